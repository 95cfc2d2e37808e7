# BLAKE2b (RFC 7693, written from its description) for the dedup id of a gateway's store:
# included by _link_bytes_c.pyx (its Stores hashes in C; the pure twin, _link_bytes_py.py,
# calls hashlib's, the same digest: tests/test_cluster_stores.py compares them).

ctypedef unsigned long long u64

cdef u64 _IV[8]
_IV[:] = [
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
]

cdef extern from *:
    """
    /* RFC 7693's twelve rounds of F on the work vector v (16 words) with the message block
       m (16 words), written out as C macros: each round's schedule (sigma) is then a
       constant the compiler folds into the loads (a loop over the rounds, or a function per
       round, read sigma at run time: 2,100 instructions a block against 1,640 here). */
    #define OCPP_B2_ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))
    #define OCPP_B2_G(a, b, c, d, x, y) do { \
        v[a] = v[a] + v[b] + (x); v[d] = OCPP_B2_ROTR(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];       v[b] = OCPP_B2_ROTR(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y); v[d] = OCPP_B2_ROTR(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];       v[b] = OCPP_B2_ROTR(v[b] ^ v[c], 63); \
    } while (0)
    #define OCPP_B2_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
        do { \
            OCPP_B2_G(0, 4, 8, 12, m[s0], m[s1]); \
            OCPP_B2_G(1, 5, 9, 13, m[s2], m[s3]); \
            OCPP_B2_G(2, 6, 10, 14, m[s4], m[s5]); \
            OCPP_B2_G(3, 7, 11, 15, m[s6], m[s7]); \
            OCPP_B2_G(0, 5, 10, 15, m[s8], m[s9]); \
            OCPP_B2_G(1, 6, 11, 12, m[s10], m[s11]); \
            OCPP_B2_G(2, 7, 8, 13, m[s12], m[s13]); \
            OCPP_B2_G(3, 4, 9, 14, m[s14], m[s15]); \
        } while (0)
    static void ocpp_fast_blake2b_rounds(unsigned long long *v, const unsigned long long *m) {
        OCPP_B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        OCPP_B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
        OCPP_B2_ROUND(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);
        OCPP_B2_ROUND(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);
        OCPP_B2_ROUND(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);
        OCPP_B2_ROUND(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);
        OCPP_B2_ROUND(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);
        OCPP_B2_ROUND(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);
        OCPP_B2_ROUND(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);
        OCPP_B2_ROUND(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);
        OCPP_B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        OCPP_B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
    }
    """
    void _rounds "ocpp_fast_blake2b_rounds"(u64* v, const u64* m) noexcept nogil

cdef extern from *:
    """
    /* The same F with AVX2, where the machine has it (asked once, at import): the work
       vector's four rows are four registers, so each G step runs on its four columns at
       once, then on the four diagonals once rows b, c and d are turned by one, two and
       three words (turned back after). A 64-bit rotation by 32 is a swap of halves, by 24
       and 16 a byte shuffle, by 63 a doubling or'd with the top bit. About half the
       scalar rounds' instructions; the scalar rounds stay for every other machine. */
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    #include <immintrin.h>
    #define OCPP_B2_HAVE_AVX2 1
    #define OCPP_B2_G4(x, y) do { \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), (x)); \
        d = _mm256_shuffle_epi32(_mm256_xor_si256(d, a), 0xB1); \
        c = _mm256_add_epi64(c, d); \
        b = _mm256_shuffle_epi8(_mm256_xor_si256(b, c), r24); \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), (y)); \
        d = _mm256_shuffle_epi8(_mm256_xor_si256(d, a), r16); \
        c = _mm256_add_epi64(c, d); \
        b = _mm256_xor_si256(b, c); \
        b = _mm256_or_si256(_mm256_add_epi64(b, b), _mm256_srli_epi64(b, 63)); \
    } while (0)
    #define OCPP_B2_M4(i, j, k, l) \
        _mm256_setr_epi64x((long long)m[i], (long long)m[j], (long long)m[k], (long long)m[l])
    #define OCPP_B2_ROUND4(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
        do { \
            OCPP_B2_G4(OCPP_B2_M4(s0, s2, s4, s6), OCPP_B2_M4(s1, s3, s5, s7)); \
            b = _mm256_permute4x64_epi64(b, 0x39); /* words 1 2 3 0 */ \
            c = _mm256_permute4x64_epi64(c, 0x4E); /* 2 3 0 1 */ \
            d = _mm256_permute4x64_epi64(d, 0x93); /* 3 0 1 2 */ \
            OCPP_B2_G4(OCPP_B2_M4(s8, s10, s12, s14), OCPP_B2_M4(s9, s11, s13, s15)); \
            b = _mm256_permute4x64_epi64(b, 0x93); \
            c = _mm256_permute4x64_epi64(c, 0x4E); \
            d = _mm256_permute4x64_epi64(d, 0x39); \
        } while (0)
    __attribute__((target("avx2")))
    static void ocpp_fast_blake2b_avx2(unsigned long long *h, const unsigned long long *v8,
                                       const unsigned long long *m) {
        /* v8: the work vector's last eight words (the IV, the counter and the last
           block's flag in); h: the state, its first eight, updated in place. */
        const __m256i r24 = _mm256_setr_epi8(
            3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
            3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
        const __m256i r16 = _mm256_setr_epi8(
            2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
            2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
        const __m256i h0 = _mm256_loadu_si256((const __m256i *)h);
        const __m256i h1 = _mm256_loadu_si256((const __m256i *)(h + 4));
        __m256i a = h0, b = h1;
        __m256i c = _mm256_loadu_si256((const __m256i *)v8);
        __m256i d = _mm256_loadu_si256((const __m256i *)(v8 + 4));
        OCPP_B2_ROUND4(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        OCPP_B2_ROUND4(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
        OCPP_B2_ROUND4(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);
        OCPP_B2_ROUND4(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);
        OCPP_B2_ROUND4(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);
        OCPP_B2_ROUND4(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);
        OCPP_B2_ROUND4(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);
        OCPP_B2_ROUND4(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);
        OCPP_B2_ROUND4(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);
        OCPP_B2_ROUND4(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);
        OCPP_B2_ROUND4(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        OCPP_B2_ROUND4(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
        _mm256_storeu_si256((__m256i *)h, _mm256_xor_si256(h0, _mm256_xor_si256(a, c)));
        _mm256_storeu_si256((__m256i *)(h + 4), _mm256_xor_si256(h1, _mm256_xor_si256(b, d)));
    }
    static int ocpp_fast_blake2b_avx2_here(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }
    #else
    static void ocpp_fast_blake2b_avx2(unsigned long long *h, const unsigned long long *v8,
                                       const unsigned long long *m) {
        (void)h; (void)v8; (void)m;
    }
    static int ocpp_fast_blake2b_avx2_here(void) { return 0; }
    #endif
    """
    void _rounds_avx2 "ocpp_fast_blake2b_avx2"(u64* h, const u64* v8, const u64* m) noexcept nogil
    bint _avx2_here "ocpp_fast_blake2b_avx2_here"() noexcept nogil

cdef bint _simd = _avx2_here()
"""Whether ``_compress`` runs the AVX2 rounds (the machine has them; the tests turn them
off to hold the scalar rounds to hashlib too)."""


def blake2b_simd(on=None):
    """Whether the AVX2 rounds are in use; ``on`` (where the machine has them) turns them on
    or off first. For the tests, which hold both to hashlib's digest."""
    global _simd
    if on is not None:
        _simd = bool(on) and _avx2_here()
    return _simd

cdef u64 _ONE = 1
cdef bint _LITTLE_ENDIAN = (<unsigned char*>&_ONE)[0] == 1
"""The machine's words are little-endian, as BLAKE2b reads a block's: copied as they are."""

ctypedef struct _Blake:
    u64 h[8]
    u64 t  # bytes hashed so far (the counter's high word stays 0: keys are short)
    unsigned char block[128]
    Py_ssize_t fill  # bytes in block, not hashed yet (a full block waits: it may be the last)


cdef void _compress(_Blake* s, bint last) noexcept nogil:
    """RFC 7693's F: ``s.block`` into ``s.h``, the counter ``s.t``."""
    cdef u64 v[16]
    cdef u64 m[16]
    cdef int i, j
    if _LITTLE_ENDIAN:
        memcpy(m, s.block, 128)
    else:
        for i in range(16):
            m[i] = 0
            for j in range(8):  # little-endian words, whatever the machine
                m[i] |= (<u64>s.block[8 * i + j]) << (8 * j)
    for i in range(8):
        v[i] = s.h[i]
        v[i + 8] = _IV[i]
    v[12] ^= s.t
    if last:
        v[14] = ~v[14]
    if _simd:  # the state updated in place
        _rounds_avx2(s.h, v + 8, m)
        return
    _rounds(v, m)
    for i in range(8):
        s.h[i] ^= v[i] ^ v[i + 8]


cdef inline void _blake_start(_Blake* s) noexcept nogil:
    """A 16-byte digest, no key."""
    cdef int i
    for i in range(8):
        s.h[i] = _IV[i]
    s.h[0] ^= 0x01010000 ^ 16
    s.t = 0
    s.fill = 0


cdef void _blake_add(_Blake* s, const char* data, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t take
    while size > 0:
        if s.fill == 128:  # more comes: the block held is not the last
            s.t += 128
            _compress(s, False)
            s.fill = 0
        take = 128 - s.fill
        if take > size:
            take = size
        memcpy(s.block + s.fill, data, take)
        s.fill += take
        data += take
        size -= take


cdef const char* _HEX = "0123456789abcdef"
cdef char _HEX_PAIRS[512]
"""Each byte's two hex digits, by the byte (a digest is written two digits a copy)."""
cdef int _i
for _i in range(256):
    _HEX_PAIRS[2 * _i] = _HEX[_i >> 4]
    _HEX_PAIRS[2 * _i + 1] = _HEX[_i & 15]


cdef void _blake_hex(_Blake* s, char* out) noexcept nogil:
    """The last block hashed, the digest's 16 bytes written as 32 hex digits at ``out``."""
    cdef int i
    cdef u64 word
    s.t += s.fill
    memset(s.block + s.fill, 0, 128 - s.fill)
    _compress(s, True)
    for i in range(16):
        if i & 7 == 0:
            word = s.h[i >> 3]
        memcpy(out + 2 * i, _HEX_PAIRS + 2 * (word & 255), 2)
        word >>= 8


def blake2b16(bytes data):
    cdef _Blake s
    _blake_start(&s)
    _blake_add(&s, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    out = PyBytes_FromStringAndSize(NULL, 32)
    _blake_hex(&s, PyBytes_AS_STRING(out))
    return out.decode("ascii")
