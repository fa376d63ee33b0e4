/* The one translation unit of libldm that compiles an stb implementation: stb_image_resize (dataset
 * resizing of pixels already decoded; libstb-dev headers). stb_image (decoding) is deliberately not
 * compiled: untrusted images are decoded by libpng and libjpeg-turbo in image.c, and images are written
 * with libpng / libjpeg in png.c (docs/security.md). */
#define STB_IMAGE_RESIZE_IMPLEMENTATION

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop
