/* The tutorial's CreateDeviceIdentity.py in C: creates the device MyFirstPythonDevice with
 * hub-generated keys through the registry manager and prints its fields.
 *
 *   HUB_OWNER_CS    the hub's iothubowner connection string
 *   IOTHUB_CA_FILE  PEM CA to trust (iothubd's tls/ca.pem); default: the system store
 *   DEVICE_ID       device to create (default MyFirstPythonDevice)
 */
#include <stdio.h>
#include <stdlib.h>

#include <iothub/iothub.h>

#include "sample_util.h"

static void print_device_info(const char *title, const iothub_device_t *d)
{
    printf("%s:\n", title);
    printf("iothubDevice.deviceId                    = %s\n", d->device_id);
    printf("iothubDevice.primaryKey                  = %s\n", d->primary_key);
    printf("iothubDevice.secondaryKey                = %s\n", d->secondary_key);
    printf("iothubDevice.connectionState             = %s\n",
           iothub_device_connection_state_name(d->connection_state));
    printf("iothubDevice.status                      = %s\n", iothub_device_status_name(d->status));
    printf("iothubDevice.lastActivityTime            = %s\n", d->last_activity_time);
    printf("iothubDevice.cloudToDeviceMessageCount   = %llu\n",
           (unsigned long long)d->cloud_to_device_message_count);
    printf("iothubDevice.isManaged                   = %s\n", d->is_managed ? "True" : "False");
    printf("iothubDevice.authMethod                  = %s\n",
           iothub_auth_method_name(d->auth_method));
    printf("\n");
}

static int iothub_createdevice(const char *connection_string, const char *device_id)
{
    iothub_registry_manager_t *rm = NULL;
    char *ca = NULL;
    int rc = iothub_registry_manager_create(&rm, connection_string);
    if (rc)
        goto fail;
    const char *ca_file = getenv("IOTHUB_CA_FILE");
    if (ca_file && ca_file[0]) {
        ca = sample_read_file(ca_file);
        if (!ca) {
            fprintf(stderr, "cannot read %s\n", ca_file);
            rc = IOTHUB_EINVAL;
            goto out_rm;
        }
        if ((rc = iothub_registry_manager_set_option_string(rm, "TrustedCerts", ca)) != 0)
            goto fail;
    }
    iothub_device_create_t req = {
        .device_id = device_id,
        .primary_key = "",
        .secondary_key = "",
        .auth_method = IOTHUB_AUTH_SHARED_PRIVATE_KEY,
    };
    iothub_device_t dev;
    if ((rc = iothub_registry_manager_create_device(rm, &req, &dev)) != 0)
        goto fail;
    print_device_info("CreateDevice", &dev);
    goto out_rm;

fail:
    printf("Unexpected error %s (%s%s%s)\n", iothub_err_name(rc), iothub_strerror(rc),
           rm && iothub_registry_manager_last_error(rm, NULL)[0] ? ": " : "",
           rm ? iothub_registry_manager_last_error(rm, NULL) : "");
out_rm:
    iothub_registry_manager_destroy(rm);
    free(ca);
    return rc;
}

int main(void)
{
    const char *cs = getenv("HUB_OWNER_CS");
    const char *device_id = getenv("DEVICE_ID");
    if (!cs)
        cs = "[IoTHub Connection String]";
    if (!device_id || !device_id[0])
        device_id = "MyFirstPythonDevice";
    printf("\n");
    printf("C (libiothub %s)\n", iothub_version_string());
    printf("Creating device using the Azure IoT Hub Service SDK for C (libiothub)\n");
    printf("\n");
    printf("    Connection string = ");
    sample_print_masked(stdout, cs);
    printf("\n");
    printf("    Device ID         = %s\n", device_id);
    int rc = iothub_createdevice(cs, device_id);
    iothub_global_deinit();
    return rc == 0 ? 0 : 1;
}
