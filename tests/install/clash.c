/* A host program with its own globals named like the Vulkan loader's and stb's functions (which libldm
 * compiles in: volk's vk* pointers, stb_image_write, stb_image_resize). Linked statically against
 * libldm.a (tests/install/run.sh), this fails with "multiple definition" unless libldm.a keeps those
 * symbols local; at run time each side must still see its own. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <ldm/io.h>
#include <ldm/version.h>

int vkCreateInstance(void) { return 42; }
int vkGetInstanceProcAddr(void) { return 43; }
int volkInitialize(void) { return 44; }
int stbi_write_png(void) { return 45; }
int stbir_resize_uint8(void) { return 46; }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: clash OUT.png\n");
    return 2;
  }
  /* libldm's PNG writer and resizer must not bind to the host's stb-named functions (which do nothing) */
  float img[4 * 4];
  for (int i = 0; i < 16; i++) img[i] = (float)i / 8.0f - 1.0f;
  struct stat st;
  if (ldm_png_write_image(argv[1], img, 1, 4, 4, 0) != LDM_OK || stat(argv[1], &st) != 0 || st.st_size == 0) {
    fprintf(stderr, "clash: ldm_png_write_image did not write %s: %s\n", argv[1], ldm_last_error());
    return 1;
  }
  int sum = vkCreateInstance() + vkGetInstanceProcAddr() + volkInitialize() + stbi_write_png() + stbir_resize_uint8();
  if (sum != 42 + 43 + 44 + 45 + 46 || strcmp(ldm_version(), LDM_VERSION) != 0) {
    fprintf(stderr, "clash: host symbols %d, ldm %s\n", sum, ldm_version());
    return 1;
  }
  printf("clash: host vk*/volk*/stb* symbols coexist with libldm %s\n", ldm_version());
  return 0;
}
