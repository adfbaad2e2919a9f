package batch

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// keyHash is a key's SHA-256 truncated to 16 bytes: collisions would need
// about 2^64 keys, and a million keys cost 16 MB instead of their strings.
// Two words compare faster than 16 bytes.
type keyHash struct{ hi, lo uint64 }

func hashKey(key string) keyHash { return hashKeyBytes([]byte(key)) }

func hashKeyBytes(key []byte) keyHash {
	sum := sha256.Sum256(key)
	return keyHash{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])}
}

func compareHash(a, b keyHash) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// hashSet is a compact set of key hashes: a sorted slice (16 bytes a key, no
// per-entry overhead) plus a small map of recent additions that is merged into
// the slice when it grows past a sixteenth of it. A Go map alone would cost
// 20 to 40 bytes a key.
type hashSet struct {
	sorted []keyHash
	recent map[keyHash]struct{}
}

// load builds the set from hashes in any order, with repeats; it takes over
// the slice.
func (s *hashSet) load(hs []keyHash) {
	slices.SortFunc(hs, compareHash)
	hs = slices.Compact(hs)
	if cap(hs)-len(hs) > len(hs)/8 {
		hs = slices.Clone(hs) // drop the append slack
	}
	s.sorted = hs
}

func (s *hashSet) has(h keyHash) bool {
	if _, ok := s.recent[h]; ok {
		return true
	}
	_, ok := slices.BinarySearchFunc(s.sorted, h, compareHash)
	return ok
}

func (s *hashSet) len() int { return len(s.sorted) + len(s.recent) }

func (s *hashSet) add(h keyHash) {
	if s.has(h) {
		return
	}
	if s.recent == nil {
		s.recent = make(map[keyHash]struct{})
	}
	s.recent[h] = struct{}{}
	if len(s.recent) >= max(1024, len(s.sorted)/16) {
		s.merge()
	}
}

// merge folds the recent additions into the sorted slice.
func (s *hashSet) merge() {
	add := make([]keyHash, 0, len(s.recent))
	for h := range s.recent {
		add = append(add, h)
	}
	slices.SortFunc(add, compareHash)
	out := make([]keyHash, 0, len(s.sorted)+len(add))
	i, j := 0, 0
	for i < len(s.sorted) && j < len(add) {
		if compareHash(s.sorted[i], add[j]) < 0 {
			out = append(out, s.sorted[i])
			i++
		} else {
			out = append(out, add[j])
			j++
		}
	}
	out = append(out, s.sorted[i:]...)
	out = append(out, add[j:]...)
	s.sorted, s.recent = out, nil
}
