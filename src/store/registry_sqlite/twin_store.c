/* Device twins in the registry database. Placeholder until the twin work lands. */
#include "internal.h"

const char rs_migration_twins[] = "SELECT 1;";
