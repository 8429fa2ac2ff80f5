package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTextSumsByLabel(t *testing.T) {
	m, err := parseText(strings.NewReader(`# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:16443",method="GET"} 12
rest_client_requests_total{code="201",host="127.0.0.1:16443",method="POST"} 3
rest_client_requests_total{code="200",host="127.0.0.1:16443",method="PATCH"} 7
rest_client_requests_total{code="409",host="127.0.0.1:16443",method="PATCH"} 1
workqueue_depth{controller="instance-BenchApp.kro.run",name="instance-BenchApp.kro.run"} 0
korvid_instance_controllers 1
weird{a="x\"y,z",b="1"} 2.5e+00
`))
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"GET": 12, "POST": 3, "PATCH": 8}, m.byLabel("rest_client_requests_total", "method"))
	assert.Equal(t, 11.0, writes(m), "POST and PATCH are writes, GET is not")
	assert.Equal(t, 1.0, m.sum("korvid_instance_controllers", nil))
	assert.Equal(t, 2.5, m.sum("weird", map[string]string{"a": `x"y,z`, "b": "1"}), "escaped quotes and commas in label values")
	assert.Zero(t, m.sum("workqueue_depth", map[string]string{"name": "other"}))
}

func TestWebhookCallsBetweenTwoScrapes(t *testing.T) {
	scrape := func(count int, sum float64) samples {
		m, err := parseText(strings.NewReader(fmt.Sprintf(`# HELP apiserver_admission_webhook_admission_duration_seconds Admission webhook latency.
# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name="vinstance.kro.run",operation="CREATE",rejected="false",type="validating",le="0.005"} %[1]d
apiserver_admission_webhook_admission_duration_seconds_bucket{name="vinstance.kro.run",operation="CREATE",rejected="false",type="validating",le="+Inf"} %[1]d
apiserver_admission_webhook_admission_duration_seconds_sum{name="vinstance.kro.run",operation="CREATE",rejected="false",type="validating"} %[2]g
apiserver_admission_webhook_admission_duration_seconds_count{name="vinstance.kro.run",operation="CREATE",rejected="false",type="validating"} %[1]d
apiserver_admission_webhook_admission_duration_seconds_bucket{name="vresourcegraphdefinition.kro.run",operation="CREATE",rejected="false",type="validating",le="+Inf"} 9
apiserver_admission_webhook_admission_duration_seconds_sum{name="vresourcegraphdefinition.kro.run",operation="CREATE",rejected="false",type="validating"} 4.5
apiserver_admission_webhook_admission_duration_seconds_count{name="vresourcegraphdefinition.kro.run",operation="CREATE",rejected="false",type="validating"} 9
`, count, sum)))
		require.NoError(t, err)
		return m
	}
	calls, wait := webhookCalls(scrape(10, 0.1), scrape(210, 3.1), instanceWebhooks...)
	assert.Equal(t, 200.0, calls, "only the instance webhooks, only between the scrapes")
	assert.Equal(t, 15*time.Millisecond, wait)
	calls, wait = webhookCalls(scrape(10, 0.1), scrape(10, 0.1), instanceWebhooks...)
	assert.Zero(t, calls)
	assert.Zero(t, wait)
}

func TestReadProcOfThisProcess(t *testing.T) {
	st, err := readProc(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, st.peakRSSMiB)
	assert.Positive(t, st.rssAnonMiB)
	assert.Positive(t, st.rssFileMiB, "the test binary's own pages")
	assert.LessOrEqual(t, st.rssAnonMiB+st.rssFileMiB, st.peakRSSMiB+1, "the resident set now is at most its peak")
	assert.GreaterOrEqual(t, st.cpuSeconds, 0.0)
}

func TestParseMicroKeepsPackageAndUnits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.txt")
	require.NoError(t, os.WriteFile(path, []byte(`goos: linux
pkg: github.com/korvid/korvid/internal/admission
BenchmarkInstanceAdmissionLoad-2   	   10000	    204835 ns/op	     4882 req/s	        3.1 p50-ms	       25.0 p99-ms	   12345 B/op	     123 allocs/op
PASS
ok  	github.com/korvid/korvid/internal/admission	12.3s
pkg: github.com/korvid/korvid/internal/graph
BenchmarkCompile3-2   	    1000	   1500000 ns/op
`), 0o644))
	got, err := parseMicro(path)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "internal/admission.BenchmarkInstanceAdmissionLoad", got[0].Name)
	assert.Equal(t, []string{"ns/op", "req/s", "p50-ms", "p99-ms", "B/op", "allocs/op"}, got[0].Units)
	assert.Equal(t, 25.0, got[0].Metrics["p99-ms"])
	assert.Equal(t, "internal/graph.BenchmarkCompile3", got[1].Name)
}

func TestObjectsCountMatches(t *testing.T) {
	assert.Equal(t, 3*7, strings.Count(string(floorObjects("ns", 7, 1)), "\nkind: "))
	assert.Equal(t, 7, strings.Count(string(benchAppInstances("ns", 7, 1)), "kind: BenchApp"))
}
