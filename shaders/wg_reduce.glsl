// Workgroup reductions of the tree shaders (reduce_sum, group_norm[_silu][_backward], softmax[_backward]).
// The including shader declares `shared float part[gl_WorkGroupSize.x];` first. Every invocation of the
// workgroup calls them (uniform control flow) and gets the result; part is free again when they return.
//
// Default: a fixed-order shared-memory tree (halving strides). With -DLDM_SUBGROUP (the *_sg variants, chosen
// by the plan where the device has subgroup arithmetic and the workgroup is a multiple of its subgroup size):
// subgroupAdd / subgroupMax inside each subgroup, then the per-subgroup partials through shared memory,
// summed in subgroup order by every invocation. Both are deterministic; they add in different orders, so
// the two forms differ in the last bits.
#ifdef LDM_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

float wg_sum(float v) {
#ifdef LDM_SUBGROUP
  float s = subgroupAdd(v);
  if (subgroupElect()) part[gl_SubgroupID] = s;
  barrier();
  float r = part[0];
  for (uint k = 1u; k < gl_NumSubgroups; k++) r += part[k];
  barrier();
  return r;
#else
  uint lid = gl_LocalInvocationID.x;
  part[lid] = v;
  barrier();
  for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1u) {
    if (lid < w) part[lid] += part[lid + w];
    barrier();
  }
  float r = part[0];
  barrier();
  return r;
#endif
}

float wg_max(float v) {
#ifdef LDM_SUBGROUP
  float s = subgroupMax(v);
  if (subgroupElect()) part[gl_SubgroupID] = s;
  barrier();
  float r = part[0];
  for (uint k = 1u; k < gl_NumSubgroups; k++) r = max(r, part[k]);
  barrier();
  return r;
#else
  uint lid = gl_LocalInvocationID.x;
  part[lid] = v;
  barrier();
  for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1u) {
    if (lid < w) part[lid] = max(part[lid], part[lid + w]);
    barrier();
  }
  float r = part[0];
  barrier();
  return r;
#endif
}
