// Shared declarations of ldm-vk compute shaders.
#extension GL_EXT_control_flow_attributes : enable

// Generated from the op manifest src/ops/ops.def (scripts/gen_ops.py, build dir):
// STEP_* step-buffer word indices (the same as LDM_STEP_* of ldm/step.h), and LDM_PC_FIELDS, the
// push-constant fields of the variant being compiled: layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
#include "ldm_step.glsl"
#include "ldm_pc.glsl"


#define LDM_LOCAL_1D layout(local_size_x_id = 0) in;
uint ldm_gid() { return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x; }
