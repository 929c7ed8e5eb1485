package authn

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/crypto/blake2b"
)

// A portable Argon2 (RFC 9106, and the reference implementation's
// version 1.0) for the hashes x/crypto/argon2 cannot check: x/crypto
// computes only argon2i and argon2id at version 0x13, while Django also
// verifies argon2d and the version-less (0x10) hashes of argon2-cffi
// before 16.0. New hashes always use x/crypto. It follows libargon2's
// ref.c and core.c step by step and runs the lanes one after another.

// Argon2 variants, as numbered in the initial hash.
const (
	argon2D  = 0
	argon2I  = 1
	argon2ID = 2

	argon2Version10  = 0x10
	argon2Version13  = 0x13
	argon2SyncPoints = 4
	argon2QWords     = 128 // 64-bit words in a 1 KiB block
)

type argon2Block [argon2QWords]uint64

type argon2Instance struct {
	mem                     []argon2Block
	variant, version        uint32
	passes, lanes           uint32
	memBlocks, laneLen, seg uint32
}

// argon2Key derives keyLen bytes. Parameters must already be valid
// (m ≥ 8·p, t ≥ 1, p ≥ 1), as decode ensures.
func argon2Key(variant, version uint32, password, salt []byte, t, m, p, keyLen uint32) []byte {
	return argon2KeyWithSecret(variant, version, password, salt, nil, nil, t, m, p, keyLen)
}

// argon2KeyWithSecret is argon2Key with Argon2's optional secret and
// associated data, which Django never uses (RFC 9106's vectors do).
func argon2KeyWithSecret(variant, version uint32, password, salt, secret, ad []byte, t, m, p, keyLen uint32) []byte {
	h0 := argon2InitialHash(variant, version, password, salt, secret, ad, t, m, p, keyLen)
	memBlocks := max(m, 2*argon2SyncPoints*p)
	seg := memBlocks / (p * argon2SyncPoints)
	memBlocks = seg * p * argon2SyncPoints
	a := &argon2Instance{
		mem:     make([]argon2Block, memBlocks),
		variant: variant, version: version, passes: t, lanes: p,
		memBlocks: memBlocks, laneLen: seg * argon2SyncPoints, seg: seg,
	}
	var seed [72]byte
	copy(seed[:], h0[:])
	var buf [8 * argon2QWords]byte
	for l := range p {
		for i := range uint32(2) {
			binary.LittleEndian.PutUint32(seed[64:], i)
			binary.LittleEndian.PutUint32(seed[68:], l)
			argon2Hash(buf[:], seed[:])
			b := &a.mem[l*a.laneLen+i]
			for k := range b {
				b[k] = binary.LittleEndian.Uint64(buf[8*k:])
			}
		}
	}
	for pass := range t {
		for slice := range uint32(argon2SyncPoints) {
			for lane := range p {
				a.fillSegment(pass, lane, slice)
			}
		}
	}
	final := a.mem[a.laneLen-1]
	for l := uint32(1); l < p; l++ {
		last := &a.mem[l*a.laneLen+a.laneLen-1]
		for k := range final {
			final[k] ^= last[k]
		}
	}
	for k, w := range final {
		binary.LittleEndian.PutUint64(buf[8*k:], w)
	}
	out := make([]byte, keyLen)
	argon2Hash(out, buf[:])
	return out
}

// argon2InitialHash is H0.
func argon2InitialHash(variant, version uint32, password, salt, secret, ad []byte, t, m, p, keyLen uint32) [blake2b.Size]byte {
	h, _ := blake2b.New512(nil)
	var w [4]byte
	put := func(v uint32) {
		binary.LittleEndian.PutUint32(w[:], v)
		h.Write(w[:])
	}
	put(p)
	put(keyLen)
	put(m)
	put(t)
	put(version)
	put(variant)
	put(uint32(len(password)))
	h.Write(password)
	put(uint32(len(salt)))
	h.Write(salt)
	put(uint32(len(secret)))
	h.Write(secret)
	put(uint32(len(ad)))
	h.Write(ad)
	var h0 [blake2b.Size]byte
	h.Sum(h0[:0])
	return h0
}

// argon2Hash is H', BLAKE2b extended to any output length (libargon2's
// blake2b_long).
func argon2Hash(out, in []byte) {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil)
		h.Write(n[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	h, _ := blake2b.New512(nil)
	h.Write(n[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	copy(out, v[:32])
	out = out[32:]
	for len(out) > blake2b.Size {
		v = blake2b.Sum512(v[:])
		copy(out, v[:32])
		out = out[32:]
	}
	h, _ = blake2b.New(len(out), nil)
	h.Write(v[:])
	h.Sum(out[:0])
}

// fillSegment is ref.c's fill_segment.
func (a *argon2Instance) fillSegment(pass, lane, slice uint32) {
	independent := a.variant == argon2I || (a.variant == argon2ID && pass == 0 && slice < argon2SyncPoints/2)
	var addr, input, zero argon2Block
	if independent {
		input[0], input[1], input[2] = uint64(pass), uint64(lane), uint64(slice)
		input[3], input[4], input[5] = uint64(a.memBlocks), uint64(a.passes), uint64(a.variant)
	}
	start := uint32(0)
	if pass == 0 && slice == 0 {
		start = 2 // the first two blocks of each lane come from H0
		if independent {
			argon2NextAddresses(&addr, &input, &zero)
		}
	}
	curr := lane*a.laneLen + slice*a.seg + start
	prev := curr - 1
	if curr%a.laneLen == 0 {
		prev = curr + a.laneLen - 1
	}
	for i := start; i < a.seg; i, curr, prev = i+1, curr+1, prev+1 {
		if curr%a.laneLen == 1 {
			prev = curr - 1
		}
		var rnd uint64
		if independent {
			if i%argon2QWords == 0 {
				argon2NextAddresses(&addr, &input, &zero)
			}
			rnd = addr[i%argon2QWords]
		} else {
			rnd = a.mem[prev][0]
		}
		refLane := uint32(rnd>>32) % a.lanes
		if pass == 0 && slice == 0 {
			refLane = lane // other lanes have nothing yet
		}
		ref := a.indexAlpha(pass, slice, i, uint32(rnd), refLane == lane)
		// Version 1.3 XORs over the old block from the second pass on;
		// 1.0 overwrites it.
		xor := a.version != argon2Version10 && pass != 0
		argon2FillBlock(&a.mem[prev], &a.mem[a.laneLen*refLane+ref], &a.mem[curr], xor)
	}
}

// indexAlpha is ref.c's index_alpha: the reference block's position in
// its lane.
func (a *argon2Instance) indexAlpha(pass, slice, index, rnd uint32, sameLane bool) uint32 {
	var area uint32
	switch {
	case pass == 0 && slice == 0:
		area = index - 1
	case pass == 0 && sameLane:
		area = slice*a.seg + index - 1
	case pass == 0:
		area = slice * a.seg
		if index == 0 {
			area--
		}
	case sameLane:
		area = a.laneLen - a.seg + index - 1
	default:
		area = a.laneLen - a.seg
		if index == 0 {
			area--
		}
	}
	rel := uint64(rnd)
	rel = rel * rel >> 32
	rel = uint64(area-1) - (uint64(area) * rel >> 32)
	startPos := uint32(0)
	if pass != 0 && slice != argon2SyncPoints-1 {
		startPos = (slice + 1) * a.seg
	}
	return uint32((uint64(startPos) + rel) % uint64(a.laneLen))
}

func argon2NextAddresses(addr, input, zero *argon2Block) {
	input[6]++
	argon2FillBlock(zero, input, addr, false)
	argon2FillBlock(zero, addr, addr, false)
}

// argon2FillBlock is ref.c's fill_block: next = G(prev, ref), XORed over
// the old next when xor is set. ref and next may be the same block.
func argon2FillBlock(prev, ref, next *argon2Block, xor bool) {
	var r, tmp argon2Block
	for k := range r {
		r[k] = ref[k] ^ prev[k]
	}
	tmp = r
	if xor {
		for k := range tmp {
			tmp[k] ^= next[k]
		}
	}
	for i := 0; i < 8; i++ { // columns of 16 words
		b := 16 * i
		argon2Round(&r, [16]int{b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13, b + 14, b + 15})
	}
	for i := 0; i < 8; i++ { // rows of 2-word pairs
		b := 2 * i
		argon2Round(&r, [16]int{b, b + 1, b + 16, b + 17, b + 32, b + 33, b + 48, b + 49, b + 64, b + 65, b + 80, b + 81, b + 96, b + 97, b + 112, b + 113})
	}
	for k := range next {
		next[k] = tmp[k] ^ r[k]
	}
}

// argon2Round is BLAKE2_ROUND_NOMSG over the words of b at idx.
func argon2Round(b *argon2Block, idx [16]int) {
	var v [16]uint64
	for k, j := range idx {
		v[k] = b[j]
	}
	argon2G(&v, 0, 4, 8, 12)
	argon2G(&v, 1, 5, 9, 13)
	argon2G(&v, 2, 6, 10, 14)
	argon2G(&v, 3, 7, 11, 15)
	argon2G(&v, 0, 5, 10, 15)
	argon2G(&v, 1, 6, 11, 12)
	argon2G(&v, 2, 7, 8, 13)
	argon2G(&v, 3, 4, 9, 14)
	for k, j := range idx {
		b[j] = v[k]
	}
}

// argon2G is BlaMka's G: BLAKE2b's with multiplications added.
func argon2G(v *[16]uint64, a, b, c, d int) {
	fBlaMka := func(x, y uint64) uint64 { return x + y + 2*uint64(uint32(x))*uint64(uint32(y)) }
	v[a] = fBlaMka(v[a], v[b])
	v[d] = bits.RotateLeft64(v[d]^v[a], -32)
	v[c] = fBlaMka(v[c], v[d])
	v[b] = bits.RotateLeft64(v[b]^v[c], -24)
	v[a] = fBlaMka(v[a], v[b])
	v[d] = bits.RotateLeft64(v[d]^v[a], -16)
	v[c] = fBlaMka(v[c], v[d])
	v[b] = bits.RotateLeft64(v[b]^v[c], -63)
}
