/* Every shader variant embedded in ldm-vk, by name: the variants of the op manifest src/ops/ops.def
 * (ldm_shader_list.h, generated in the build dir). test_conformance checks both ways: each embedded
 * shader is listed here, and each listed shader is launched by at least one conformance case (in the
 * default or the low-limits run). */
static const char *const expected_shaders[] = {
#define LDM_SHADER(variant, op) #variant,
#include "ldm_shader_list.h"
#undef LDM_SHADER
};
