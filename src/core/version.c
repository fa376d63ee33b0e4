/* ldm_version(), ldm_version_git(): the meson project version and the git revision of the build. */
#include "ldm/version.h" /* generated: include/ldm/version.h.in */
#include "ldm_git_rev.h" /* generated at build time: LDM_GIT_REV (src/ldm_git_rev.h.in) */

const char *ldm_version(void) { return LDM_VERSION; }
const char *ldm_version_git(void) { return LDM_GIT_REV; }
