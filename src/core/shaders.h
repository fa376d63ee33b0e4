#ifndef LDM_CORE_SHADERS_H
#define LDM_CORE_SHADERS_H
#include <stddef.h>
#include <stdint.h>
typedef struct ldm_shader_blob {
  const char *name;
  const uint32_t *code;
  size_t size; /* bytes */
} ldm_shader_blob;
const ldm_shader_blob *ldm_shader_find(const char *name);
size_t ldm_shader_count(void);
const ldm_shader_blob *ldm_shader_at(size_t i);
#endif
