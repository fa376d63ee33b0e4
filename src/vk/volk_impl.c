/* volk's implementation (Debian's libvulkan-volk-dev ships it as a source file). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wcast-function-type"
#include <volk.c>
#pragma GCC diagnostic pop
