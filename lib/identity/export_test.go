package identity

// Keep scrypt cheap in tests: 2^10 instead of 2^18.
func init() { scryptWorkFactor = 10 }
