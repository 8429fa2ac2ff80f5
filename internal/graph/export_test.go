package graph

// ClearParseCache empties the cache of parsed expressions.
func ClearParseCache() { parsed.Clear() }

// ParseCacheLen is the number of expressions the parse cache holds.
func ParseCacheLen() int { return parsed.Len() }
