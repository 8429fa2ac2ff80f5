package main

import (
	"fmt"
	"strings"
)

// floorObjects are the 3n objects n BenchApps render to, as plain manifests.
func floorObjects(namespace string, n, replicas int) []byte {
	var b strings.Builder
	for i := range n {
		name := appName(i)
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s-config
  namespace: %[2]s
data:
  PORT: "8080"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  replicas: %[3]d
  selector:
    matchLabels:
      app.kubernetes.io/name: %[1]s
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[1]s
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 8080
        envFrom:
        - configMapRef:
            name: %[1]s-config
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  selector:
    app.kubernetes.io/name: %[1]s
  ports:
  - name: http
    port: 80
    targetPort: http
`, name, namespace, replicas)
	}
	return []byte(b.String())
}

// benchAppInstances are n BenchApp instances.
func benchAppInstances(namespace string, n, replicas int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: kro.run/v1alpha1
kind: BenchApp
metadata:
  name: %s
  namespace: %s
spec:
  replicas: %d
`, appName(i), namespace, replicas)
	}
	return []byte(b.String())
}

func appName(i int) string { return fmt.Sprintf("app-%04d", i) }
