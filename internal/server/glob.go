package server

// globMatch reports whether s matches the Redis glob pattern p, as Redis's
// stringmatchlen: * ? [abc] [^a-z] [a-] and \ escapes; nocase false.
func globMatch(p, s []byte) bool {
	skip := false
	return globMatchDepth(p, s, 0, &skip)
}

// maxGlobDepth bounds the recursion on stars, as Redis 7 does against
// patterns like "*a*a*a*...b" (it gives up and reports no match).
const maxGlobDepth = 1000

// skipLonger is Redis's skipLongerMatches: once a star's rest failed
// against the whole remaining string, trying shorter tails for outer stars
// cannot succeed, which keeps the match linear instead of exponential.
func globMatchDepth(p, s []byte, depth int, skipLonger *bool) bool {
	if depth > maxGlobDepth {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchDepth(p[1:], s, depth+1, skipLonger) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if len(p) > 1 && p[0] == '\\' {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if len(p) == 0 {
					// An unterminated class: Redis steps back to treat the
					// end as the class's end.
					break
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					start, end := p[0], p[2]
					if start > end {
						start, end = end, start
					}
					p = p[2:]
					if s[0] >= start && s[0] <= end {
						match = true
					}
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
			if len(p) == 0 {
				return len(s) == 0
			}
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
