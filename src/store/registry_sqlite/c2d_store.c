/* The cloud-to-device queue in the registry database. Placeholder until the C2D work
 * lands. */
#include "internal.h"

const char rs_migration_c2d[] = "SELECT 1;";
