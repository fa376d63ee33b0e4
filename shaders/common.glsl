// Shared declarations of ldm-vk compute shaders.
#extension GL_EXT_control_flow_attributes : enable

// Step-buffer word indices (mirror include/ldm/step.h)
#define STEP_T 0
#define STEP_RNG_LO 1
#define STEP_RNG_HI 2
#define STEP_LR 3
#define STEP_BC1 4
#define STEP_BC2 5
#define STEP_EMA 6
#define STEP_LOSS_SCALE 7
#define STEP_GRAD_CLIP 8
#define STEP_INV_ACCUM 9
#define STEP_SAMPLE_I 10
#define STEP_ACCUM_ONLY 11
#define STEP_USER 16


#define LDM_LOCAL_1D layout(local_size_x_id = 0) in;
uint ldm_gid() { return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x; }
