package graph

// ClearCompileCaches empties the caches compiles share: parsed expressions
// and the verdicts on generated CRDs.
func ClearCompileCaches() {
	parsed.Clear()
	validatedCRDs.Clear()
}

// ParseCacheLen is the number of expressions the parse cache holds.
func ParseCacheLen() int { return parsed.Len() }

// CRDCacheLen is the number of verdicts on generated CRDs kept.
func CRDCacheLen() int { return validatedCRDs.Len() }
