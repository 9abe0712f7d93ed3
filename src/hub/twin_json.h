/* The twin document as the service REST API shows it (spec 3.5): identity members from the
 * device, sections from the stored twin. Shared by GET/PATCH/PUT /twins and queries. */
#ifndef IOTHUB_HUB_TWIN_JSON_H
#define IOTHUB_HUB_TWIN_JSON_H

#include <jansson.h>

#include "common/device.h"
#include "common/twin_doc.h"

/* A new object (caller decrefs) or NULL when out of memory. */
json_t *twin_json(const struct device *dev, const struct twin_doc *doc);

#endif
