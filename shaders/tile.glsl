// The tile variants of the tiled GEMM and convolution shaders (gemm.comp, conv2d.comp), one source chosen
// by specialization constants (vk/plan.c ldm_tile_plan; docs/perf.md "Tile variants"): a workgroup of NT
// invocations computes a BM x BN output tile over 16-deep slabs of A (BK x BM) and B (BK x BN) staged in
// shared memory; each invocation accumulates a TM x TN register block. Constant ids 1 and 2 are the
// convolution's kernel size and stride.
//   TFLAGS bit 0  vec4 layout: a thread's rows (columns) are runs of 4 consecutive ones, read from shared
//                 memory as one vec4 each; runs TY*4 (TX*4) apart, so that neighbouring threads read
//                 neighbouring 16-byte words (no bank conflicts). Otherwise scalar: rows ty + TY*r.
//          bit 1  double-buffered slabs: the next slab's global loads go to registers while the current
//                 one is computed, then into the other shared buffer (one barrier per slab)
//          bits 2-4  padding floats per shared row (against conflicts of the transposing stores)
// Every variant adds the products of one output element in increasing k, in one invocation.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint NT = 256u;
layout(constant_id = 3) const uint BM = 64u;
layout(constant_id = 4) const uint BN = 64u;
layout(constant_id = 5) const uint TM = 4u;
layout(constant_id = 6) const uint TN = 4u;
layout(constant_id = 7) const uint TFLAGS = 0u;
const uint BK = 16u;
const bool TVEC = (TFLAGS & 1u) != 0u;
const bool TDB = (TFLAGS & 2u) != 0u;
const uint TPAD = (TFLAGS >> 2u) & 7u;
const uint TG = TVEC ? 4u : 1u;       // length of a thread's runs of rows / columns
const uint TX = BN / TN, TY = BM / TM; // threads across the columns, down the rows
const uint ASTR = BM + TPAD, BSTR = BN + TPAD;
const uint NBUF = TDB ? 2u : 1u;
const uint LA = BM * BK / NT, LB = BN * BK / NT; // global loads per thread and slab
shared vec4 As[(NBUF * BK * ASTR + 3u) / 4u];    // [buffer][depth][row], as floats
shared vec4 Bs[(NBUF * BK * BSTR + 3u) / 4u];    // [buffer][depth][column]
float tacc[TM * TN];
float ra[LA], rb[LB]; // a slab's global loads on their way to shared memory

// row (column) of the tile that register r (q) of thread ty (tx) holds
uint tile_row(uint ty, uint r) { return (r / TG) * (TY * TG) + ty * TG + (r % TG); }
uint tile_col(uint tx, uint q) { return (q / TG) * (TX * TG) + tx * TG + (q % TG); }
void tile_st_a(uint buf, uint k, uint m, float v) {
  uint i = (buf * BK + k) * ASTR + m;
  As[i >> 2u][i & 3u] = v;
}
void tile_st_b(uint buf, uint k, uint n, float v) {
  uint i = (buf * BK + k) * BSTR + n;
  Bs[i >> 2u][i & 3u] = v;
}

// one slab from shared buffer buf into the register block
void tile_slab(uint buf, uint tx, uint ty) {
  [[unroll]] for (uint k = 0u; k < BK; k++) {
    float av[TM], bv[TN];
    uint ab = (buf * BK + k) * ASTR, bb = (buf * BK + k) * BSTR;
    if (TVEC) {
      [[unroll]] for (uint g = 0u; g < TM / 4u; g++) {
        vec4 v = As[(ab + g * TY * 4u + ty * 4u) >> 2u];
        av[4u * g] = v.x, av[4u * g + 1u] = v.y, av[4u * g + 2u] = v.z, av[4u * g + 3u] = v.w;
      }
      [[unroll]] for (uint g = 0u; g < TN / 4u; g++) {
        vec4 v = Bs[(bb + g * TX * 4u + tx * 4u) >> 2u];
        bv[4u * g] = v.x, bv[4u * g + 1u] = v.y, bv[4u * g + 2u] = v.z, bv[4u * g + 3u] = v.w;
      }
    } else {
      [[unroll]] for (uint r = 0u; r < TM; r++) {
        uint i = ab + ty + TY * r;
        av[r] = As[i >> 2u][i & 3u];
      }
      [[unroll]] for (uint q = 0u; q < TN; q++) {
        uint i = bb + tx + TX * q;
        bv[q] = Bs[i >> 2u][i & 3u];
      }
    }
    [[unroll]] for (uint r = 0u; r < TM; r++)
      [[unroll]] for (uint q = 0u; q < TN; q++) tacc[r * TN + q] += av[r] * bv[q];
  }
}

// defined by the including shader: a slab's global loads at depth k0 into ra/rb, and ra/rb into buffer buf
void tile_fetch(uint k0);
void tile_stash(uint buf);

// the depth loop over [d0, d1): every thread of the workgroup runs it (it has barriers)
void tile_loop(uint d0, uint d1, uint tx, uint ty) {
  [[unroll]] for (uint i = 0u; i < TM * TN; i++) tacc[i] = 0.0;
  uint nslab = d1 > d0 ? (d1 - d0 + BK - 1u) / BK : 0u;
  if (nslab == 0u) return;
  tile_fetch(d0);
  tile_stash(0u);
  barrier();
  for (uint s = 0u; s < nslab; s++) {
    bool more = s + 1u < nslab;
    if (TDB) {
      uint buf = s & 1u;
      if (more) tile_fetch(d0 + (s + 1u) * BK);
      tile_slab(buf, tx, ty);
      if (more) tile_stash(buf ^ 1u);
      barrier();
    } else {
      tile_slab(0u, tx, ty);
      barrier();
      if (more) {
        tile_fetch(d0 + (s + 1u) * BK);
        tile_stash(0u);
        barrier();
      }
    }
  }
}
