/* iothub_service_client: the registry-manager part of the Azure IoT Hub Python SDK's
 * C-extension service API (IoTHubRegistryManager and the types it returns), as a thin layer
 * over libiothub's registry manager. Each request runs with the GIL released. */
#include "pyiothub.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <structmember.h>

#include "iothub/iothub.h"

#define MODULE_NAME "iothub_service_client"

/* Casts a method implementation with keyword arguments to the PyCFunction slot type. */
#define PYCFUNC(f) ((PyCFunction)(void (*)(void))(f))

/* Runs stmt with the GIL released. */
#define WITHOUT_GIL(stmt)                                                                          \
    do {                                                                                           \
        PyThreadState *ts_ = PyEval_SaveThread();                                                  \
        stmt;                                                                                      \
        PyEval_RestoreThread(ts_);                                                                 \
    } while (0)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static PyObject *IoTHubError;
static PyObject *IoTHubServiceClientAuthError;
static PyObject *IoTHubRegistryManagerError;

static PyObject *RegistryManagerResult;
static PyObject *AuthMethod;
static PyObject *ConnectionState;
static PyObject *DeviceStatus;

/* The SDK's IoTHubRegistryManagerResult. */
enum {
    RM_OK,
    RM_INVALID_ARG,
    RM_ERROR,
    RM_JSON_ERROR,
    RM_HTTPAPI_ERROR,
    RM_HTTP_STATUS_ERROR,
    RM_DEVICE_EXIST,
    RM_DEVICE_NOT_EXIST,
    RM_CALLBACK_NOT_SET,
};

static const pyiothub_enum_member_t rm_result_members[] = {
    {"OK", RM_OK},
    {"INVALID_ARG", RM_INVALID_ARG},
    {"ERROR", RM_ERROR},
    {"JSON_ERROR", RM_JSON_ERROR},
    {"HTTPAPI_ERROR", RM_HTTPAPI_ERROR},
    {"HTTP_STATUS_ERROR", RM_HTTP_STATUS_ERROR},
    {"DEVICE_EXIST", RM_DEVICE_EXIST},
    {"DEVICE_NOT_EXIST", RM_DEVICE_NOT_EXIST},
    {"CALLBACK_NOT_SET", RM_CALLBACK_NOT_SET},
};
static const pyiothub_enum_member_t auth_method_members[] = {
    {"SHARED_PRIVATE_KEY", IOTHUB_AUTH_SHARED_PRIVATE_KEY},
    {"X509_THUMBPRINT", IOTHUB_AUTH_X509_THUMBPRINT},
    {"X509_CERTIFICATE_AUTHORITY", IOTHUB_AUTH_X509_CERTIFICATE_AUTHORITY},
    {"NONE", IOTHUB_AUTH_NONE},
};
static const pyiothub_enum_member_t connection_state_members[] = {
    {"CONNECTED", IOTHUB_DEVICE_CONNECTION_STATE_CONNECTED},
    {"DISCONNECTED", IOTHUB_DEVICE_CONNECTION_STATE_DISCONNECTED},
};
static const pyiothub_enum_member_t device_status_members[] = {
    {"ENABLED", IOTHUB_DEVICE_STATUS_ENABLED},
    {"DISABLED", IOTHUB_DEVICE_STATUS_DISABLED},
};

static int rm_result_of(int err)
{
    switch (err) {
    case 0:
        return RM_OK;
    case IOTHUB_EINVAL:
    case IOTHUB_ECONNSTR:
    case IOTHUB_EKEY:
    case IOTHUB_EOPTION:
    case IOTHUB_EOPTVALUE:
        return RM_INVALID_ARG;
    case IOTHUB_EEXIST:
        return RM_DEVICE_EXIST;
    case IOTHUB_ENOTFOUND:
        return RM_DEVICE_NOT_EXIST;
    case IOTHUB_ENETWORK:
    case IOTHUB_ETLS:
    case IOTHUB_ETIMEDOUT:
        return RM_HTTPAPI_ERROR;
    case IOTHUB_EAUTH:
    case IOTHUB_EPRECONDITION:
    case IOTHUB_ETHROTTLED:
    case IOTHUB_ESERVER:
    case IOTHUB_ETOOBIG:
        return RM_HTTP_STATUS_ERROR;
    case IOTHUB_EPROTOCOL:
        return RM_JSON_ERROR;
    default:
        return RM_ERROR;
    }
}

/* Raises IoTHubRegistryManagerError for err; the detail names the hub's error code and HTTP
 * status when the hub answered (rm may be NULL). */
static PyObject *raise_rm(iothub_registry_manager_t *rm, const char *func, int err)
{
    char detail[256];
    int status = 0;
    const char *code = rm ? iothub_registry_manager_last_error(rm, &status) : "";
    if (status > 0)
        snprintf(detail, sizeof(detail), "%s: HTTP %d%s%s", iothub_strerror(err), status,
                 code && *code ? " " : "", code ? code : "");
    else
        snprintf(detail, sizeof(detail), "%s", iothub_strerror(err));
    return pyiothub_raise(IoTHubRegistryManagerError, "IoTHubRegistryManager", func,
                          RegistryManagerResult, rm_result_of(err), detail);
}

/* ---- IoTHubDevice ---------------------------------------------------------------------- */

typedef struct {
    PyObject ob_base;
    iothub_device_t dev;
} DeviceObject;

static PyTypeObject DeviceType;

static PyObject *device_wrap(const iothub_device_t *dev)
{
    DeviceObject *self = (DeviceObject *)DeviceType.tp_alloc(&DeviceType, 0);
    if (self)
        self->dev = *dev;
    return (PyObject *)self;
}

static void device_dealloc(DeviceObject *self)
{
    Py_TYPE(self)->tp_free((PyObject *)self);
}

enum device_field {
    F_DEVICE_ID,
    F_PRIMARY_KEY,
    F_SECONDARY_KEY,
    F_PRIMARY_THUMBPRINT,
    F_SECONDARY_THUMBPRINT,
    F_GENERATION_ID,
    F_ETAG,
    F_CONNECTION_STATE,
    F_CONNECTION_STATE_UPDATED_TIME,
    F_STATUS,
    F_STATUS_REASON,
    F_STATUS_UPDATED_TIME,
    F_LAST_ACTIVITY_TIME,
    F_C2D_COUNT,
    F_IS_MANAGED,
    F_AUTH_METHOD,
    F_IOT_EDGE,
    F_NONE, /* configuration, deviceProperties, serviceProperties: always None */
};

static PyObject *text(const char *s)
{
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strnlen(s, 512), "replace");
}

static PyObject *device_get(DeviceObject *self, void *closure)
{
    const iothub_device_t *d = &self->dev;
    switch ((enum device_field)(intptr_t)closure) {
    case F_DEVICE_ID:
        return text(d->device_id);
    case F_PRIMARY_KEY:
        return text(d->primary_key);
    case F_SECONDARY_KEY:
        return text(d->secondary_key);
    case F_PRIMARY_THUMBPRINT:
        return text(d->primary_thumbprint);
    case F_SECONDARY_THUMBPRINT:
        return text(d->secondary_thumbprint);
    case F_GENERATION_ID:
        return text(d->generation_id);
    case F_ETAG:
        return text(d->etag);
    case F_CONNECTION_STATE:
        return pyiothub_enum_get(ConnectionState, d->connection_state);
    case F_CONNECTION_STATE_UPDATED_TIME:
        return text(d->connection_state_updated_time);
    case F_STATUS:
        return pyiothub_enum_get(DeviceStatus, d->status);
    case F_STATUS_REASON:
        if (!d->status_reason[0])
            Py_RETURN_NONE; /* the hub's null, as the SDK returned it */
        return text(d->status_reason);
    case F_STATUS_UPDATED_TIME:
        return text(d->status_updated_time);
    case F_LAST_ACTIVITY_TIME:
        return text(d->last_activity_time);
    case F_C2D_COUNT:
        return PyLong_FromUnsignedLongLong(d->cloud_to_device_message_count);
    case F_IS_MANAGED:
        return PyBool_FromLong(d->is_managed);
    case F_AUTH_METHOD:
        return pyiothub_enum_get(AuthMethod, d->auth_method);
    case F_IOT_EDGE:
        return PyBool_FromLong(d->iot_edge);
    default:
        Py_RETURN_NONE;
    }
}

#define DEVICE_FIELD(name, field, doc)                                                             \
    {                                                                                              \
        name, (getter)device_get, NULL, doc, (void *)(intptr_t)(field)                             \
    }

static PyGetSetDef device_getset[] = {
    DEVICE_FIELD("deviceId", F_DEVICE_ID, "str"),
    DEVICE_FIELD("primaryKey", F_PRIMARY_KEY, "str (base64; empty for X.509 devices)"),
    DEVICE_FIELD("secondaryKey", F_SECONDARY_KEY, "str"),
    DEVICE_FIELD("primaryThumbprint", F_PRIMARY_THUMBPRINT, "str (X509_THUMBPRINT devices)"),
    DEVICE_FIELD("secondaryThumbprint", F_SECONDARY_THUMBPRINT, "str"),
    DEVICE_FIELD("generationId", F_GENERATION_ID, "str"),
    DEVICE_FIELD("eTag", F_ETAG, "str"),
    DEVICE_FIELD("connectionState", F_CONNECTION_STATE, "IoTHubDeviceConnectionState"),
    DEVICE_FIELD("connectionStateUpdatedTime", F_CONNECTION_STATE_UPDATED_TIME, "str (ISO 8601)"),
    DEVICE_FIELD("status", F_STATUS, "IoTHubDeviceStatus"),
    DEVICE_FIELD("statusReason", F_STATUS_REASON, "str or None"),
    DEVICE_FIELD("statusUpdatedTime", F_STATUS_UPDATED_TIME, "str (ISO 8601)"),
    DEVICE_FIELD("lastActivityTime", F_LAST_ACTIVITY_TIME, "str (ISO 8601)"),
    DEVICE_FIELD("cloudToDeviceMessageCount", F_C2D_COUNT, "int"),
    DEVICE_FIELD("isManaged", F_IS_MANAGED, "bool (always False)"),
    DEVICE_FIELD("configuration", F_NONE, "None"),
    DEVICE_FIELD("deviceProperties", F_NONE, "None"),
    DEVICE_FIELD("serviceProperties", F_NONE, "None"),
    DEVICE_FIELD("authMethod", F_AUTH_METHOD, "IoTHubRegistryManagerAuthMethod"),
    DEVICE_FIELD("iotEdge", F_IOT_EDGE, "bool"),
    {NULL, NULL, NULL, NULL, NULL},
};

static PyObject *device_repr(DeviceObject *self)
{
    return PyUnicode_FromFormat("<%s deviceId='%s'>", Py_TYPE(self)->tp_name, self->dev.device_id);
}

static PyTypeObject DeviceType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubDevice",
    .tp_basicsize = sizeof(DeviceObject),
    .tp_dealloc = (destructor)device_dealloc,
    .tp_repr = (reprfunc)device_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A device identity as the hub returned it (read-only).",
    .tp_getset = device_getset,
};

/* ---- IoTHubRegistryStatistics, IoTHubDeviceCapabilities, IoTHubServiceClientAuth -------- */

typedef struct {
    PyObject ob_base;
    unsigned long long total, enabled, disabled;
} StatisticsObject;

static void plain_dealloc(PyObject *self)
{
    Py_TYPE(self)->tp_free(self);
}

static PyMemberDef statistics_members[] = {
    {"totalDeviceCount", T_ULONGLONG, offsetof(StatisticsObject, total), READONLY, "int"},
    {"enabledDeviceCount", T_ULONGLONG, offsetof(StatisticsObject, enabled), READONLY, "int"},
    {"disabledDeviceCount", T_ULONGLONG, offsetof(StatisticsObject, disabled), READONLY, "int"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject StatisticsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubRegistryStatistics",
    .tp_basicsize = sizeof(StatisticsObject),
    .tp_dealloc = plain_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Device counts of the registry.",
    .tp_members = statistics_members,
};

typedef struct {
    PyObject ob_base;
    char iot_edge; /* T_BOOL */
} CapabilitiesObject;

static PyObject *capabilities_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":IoTHubDeviceCapabilities", kwlist))
        return NULL;
    return type->tp_alloc(type, 0);
}

static PyMemberDef capabilities_members[] = {
    {"iot_edge", T_BOOL, offsetof(CapabilitiesObject, iot_edge), 0,
     "bool: the device is an IoT Edge device"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CapabilitiesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubDeviceCapabilities",
    .tp_basicsize = sizeof(CapabilitiesObject),
    .tp_dealloc = plain_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "IoTHubDeviceCapabilities(): optional argument of create_device/update_device.",
    .tp_members = capabilities_members,
    .tp_new = capabilities_new,
};

typedef struct {
    PyObject ob_base;
    PyObject *connection_string; /* str */
} AuthObject;

static PyObject *auth_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"connection_string", NULL};
    PyObject *cs_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:IoTHubServiceClientAuth", kwlist, &cs_obj))
        return NULL;
    const char *cs = pyiothub_str_arg(cs_obj, "connection_string");
    if (!cs)
        return NULL;
    /* Validate now, as the SDK did (no network I/O). */
    iothub_registry_manager_t *rm = NULL;
    int rc = iothub_registry_manager_create(&rm, cs);
    iothub_registry_manager_destroy(rm);
    if (rc < 0) {
        PyErr_Format(IoTHubServiceClientAuthError,
                     "IoTHubServiceClientAuth.IoTHubServiceClientAuth, "
                     "IoTHubServiceClientAuthError: %s",
                     iothub_strerror(rc));
        return NULL;
    }
    AuthObject *self = (AuthObject *)type->tp_alloc(type, 0);
    if (self)
        self->connection_string = Py_NewRef(cs_obj);
    return (PyObject *)self;
}

static void auth_dealloc(AuthObject *self)
{
    Py_XDECREF(self->connection_string);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject AuthType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubServiceClientAuth",
    .tp_basicsize = sizeof(AuthObject),
    .tp_dealloc = (destructor)auth_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "IoTHubServiceClientAuth(connection_string): a hub connection string, checked.",
    .tp_new = auth_new,
};

/* ---- IoTHubRegistryManager ------------------------------------------------------------- */

typedef struct {
    PyObject ob_base;
    iothub_registry_manager_t *rm;
} RegistryObject;

static PyObject *registry_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"connection_string", NULL};
    PyObject *arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:IoTHubRegistryManager", kwlist, &arg))
        return NULL;
    if (PyObject_TypeCheck(arg, &AuthType))
        arg = ((AuthObject *)arg)->connection_string;
    const char *cs = pyiothub_str_arg(arg, "connection_string");
    if (!cs)
        return NULL;
    char *ca = NULL;
    if (pyiothub_read_ca_file(&ca) < 0)
        return NULL;
    iothub_registry_manager_t *rm = NULL;
    int rc = iothub_registry_manager_create(&rm, cs);
    if (rc == 0 && ca)
        rc = iothub_registry_manager_set_option_string(rm, "TrustedCerts", ca);
    PyMem_Free(ca);
    if (rc < 0) {
        iothub_registry_manager_destroy(rm);
        return raise_rm(NULL, "IoTHubRegistryManager", rc);
    }
    RegistryObject *self = (RegistryObject *)type->tp_alloc(type, 0);
    if (!self) {
        iothub_registry_manager_destroy(rm);
        return NULL;
    }
    self->rm = rm;
    return (PyObject *)self;
}

static void registry_dealloc(RegistryObject *self)
{
    iothub_registry_manager_destroy(self->rm);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Copies s into a fixed-size field; 0 or -1 (an INVALID_ARG IoTHubRegistryManagerError
 * when it does not fit). */
static int copy_arg(char *dst, size_t cap, const char *s, const char *func)
{
    size_t len = strlen(s);
    if (len >= cap) {
        raise_rm(NULL, func, IOTHUB_EINVAL);
        return -1;
    }
    memcpy(dst, s, len + 1);
    return 0;
}

static int edge_of(PyObject *caps, bool *edge)
{
    if (!caps || caps == Py_None)
        return 0;
    if (!PyObject_TypeCheck(caps, &CapabilitiesType)) {
        PyErr_Format(PyExc_TypeError, "expected IoTHubDeviceCapabilities, got %s",
                     Py_TYPE(caps)->tp_name);
        return -1;
    }
    *edge = ((CapabilitiesObject *)caps)->iot_edge != 0;
    return 1;
}

static PyObject *registry_create_device(RegistryObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"deviceId",   "primaryKey",         "secondaryKey",
                             "authMethod", "deviceCapabilities", NULL};
    PyObject *id_obj, *pk_obj, *sk_obj, *auth_obj, *caps = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO|O:create_device", kwlist, &id_obj, &pk_obj,
                                     &sk_obj, &auth_obj, &caps))
        return NULL;
    const char *id = pyiothub_str_arg(id_obj, "deviceId");
    const char *pk = id ? pyiothub_str_arg(pk_obj, "primaryKey") : NULL;
    const char *sk = pk ? pyiothub_str_arg(sk_obj, "secondaryKey") : NULL;
    long auth;
    bool edge = false;
    if (!sk || pyiothub_enum_value(auth_obj, &auth) < 0 || edge_of(caps, &edge) < 0)
        return NULL;
    iothub_device_create_t req = {
        .device_id = id,
        .primary_key = pk,
        .secondary_key = sk,
        .auth_method = (iothub_auth_method_t)auth,
        .status = IOTHUB_DEVICE_STATUS_ENABLED,
        .iot_edge = edge,
    };
    iothub_device_t *out = PyMem_Calloc(1, sizeof(*out));
    if (!out)
        return PyErr_NoMemory();
    int rc;
    /* The strings belong to argument objects that outlive the call. */
    WITHOUT_GIL(rc = iothub_registry_manager_create_device(self->rm, &req, out));
    PyObject *result = rc < 0 ? raise_rm(self->rm, "create_device", rc) : device_wrap(out);
    PyMem_Free(out);
    return result;
}

static PyObject *registry_get_device(RegistryObject *self, PyObject *id_obj)
{
    const char *id = pyiothub_str_arg(id_obj, "deviceId");
    if (!id)
        return NULL;
    iothub_device_t *out = PyMem_Calloc(1, sizeof(*out));
    if (!out)
        return PyErr_NoMemory();
    int rc;
    WITHOUT_GIL(rc = iothub_registry_manager_get_device(self->rm, id, out));
    PyObject *result = rc < 0 ? raise_rm(self->rm, "get_device", rc) : device_wrap(out);
    PyMem_Free(out);
    return result;
}

/* update_device(deviceId, primaryKey, secondaryKey, status, authMethod[, capabilities]):
 * reads the device, changes what the SDK's update sent, and writes it back (If-Match: the
 * etag just read). Empty keys keep the hub's. */
static PyObject *registry_update_device(RegistryObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"deviceId", "primaryKey", "secondaryKey",
                             "status",   "authMethod", "deviceCapabilities",
                             NULL};
    PyObject *id_obj, *pk_obj, *sk_obj, *status_obj, *auth_obj, *caps = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOO|O:update_device", kwlist, &id_obj, &pk_obj,
                                     &sk_obj, &status_obj, &auth_obj, &caps))
        return NULL;
    long status, auth;
    bool edge = false;
    const char *id = pyiothub_str_arg(id_obj, "deviceId");
    const char *pk = id ? pyiothub_str_arg(pk_obj, "primaryKey") : NULL;
    const char *sk = pk ? pyiothub_str_arg(sk_obj, "secondaryKey") : NULL;
    int has_edge;
    if (!sk || pyiothub_enum_value(status_obj, &status) < 0 ||
        pyiothub_enum_value(auth_obj, &auth) < 0 || (has_edge = edge_of(caps, &edge)) < 0)
        return NULL;
    iothub_device_t *dev = PyMem_Calloc(1, sizeof(*dev));
    if (!dev)
        return PyErr_NoMemory();
    PyObject *result = NULL;
    int rc;
    WITHOUT_GIL(rc = iothub_registry_manager_get_device(self->rm, id, dev));
    if (rc < 0) {
        raise_rm(self->rm, "update_device", rc);
        goto out;
    }
    char *k1 = dev->primary_key, *k2 = dev->secondary_key;
    size_t cap = sizeof(dev->primary_key);
    if (auth == IOTHUB_AUTH_X509_THUMBPRINT) {
        k1 = dev->primary_thumbprint;
        k2 = dev->secondary_thumbprint;
        cap = sizeof(dev->primary_thumbprint);
    }
    /* Empty arguments leave the current keys or thumbprints in place. */
    if ((*pk && copy_arg(k1, cap, pk, "update_device") < 0) ||
        (*sk && copy_arg(k2, cap, sk, "update_device") < 0))
        goto out;
    dev->status = (iothub_device_status_t)status;
    dev->auth_method = (iothub_auth_method_t)auth;
    if (has_edge)
        dev->iot_edge = edge;
    WITHOUT_GIL(rc = iothub_registry_manager_update_device(self->rm, dev, NULL));
    if (rc < 0)
        raise_rm(self->rm, "update_device", rc);
    else
        result = Py_NewRef(Py_None);
out:
    PyMem_Free(dev);
    return result;
}

static PyObject *registry_delete_device(RegistryObject *self, PyObject *id_obj)
{
    const char *id = pyiothub_str_arg(id_obj, "deviceId");
    if (!id)
        return NULL;
    int rc;
    WITHOUT_GIL(rc = iothub_registry_manager_delete_device(self->rm, id));
    if (rc < 0)
        return raise_rm(self->rm, "delete_device", rc);
    Py_RETURN_NONE;
}

static PyObject *registry_get_device_list(RegistryObject *self, PyObject *args)
{
    Py_ssize_t max = 1000;
    if (!PyArg_ParseTuple(args, "|n:get_device_list", &max))
        return NULL;
    if (max < 1 || max > 1000)
        return raise_rm(NULL, "get_device_list", IOTHUB_EINVAL);
    iothub_device_t *devices = NULL;
    size_t count = 0;
    int rc;
    WITHOUT_GIL(rc = iothub_registry_manager_list_devices(self->rm, (size_t)max, &devices, &count));
    if (rc < 0)
        return raise_rm(self->rm, "get_device_list", rc);
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list && i < count; i++) {
        PyObject *d = device_wrap(&devices[i]);
        if (!d) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, d);
    }
    iothub_device_list_free(devices);
    return list;
}

static PyObject *registry_get_statistics(RegistryObject *self, PyObject *unused)
{
    (void)unused;
    iothub_registry_statistics_t st = {0};
    int rc;
    WITHOUT_GIL(rc = iothub_registry_manager_get_statistics(self->rm, &st));
    if (rc < 0)
        return raise_rm(self->rm, "get_statistics", rc);
    StatisticsObject *o = (StatisticsObject *)StatisticsType.tp_alloc(&StatisticsType, 0);
    if (!o)
        return NULL;
    o->total = st.total_device_count;
    o->enabled = st.enabled_device_count;
    o->disabled = st.disabled_device_count;
    return (PyObject *)o;
}

static PyMethodDef registry_methods[] = {
    {"create_device", PYCFUNC(registry_create_device), METH_VARARGS | METH_KEYWORDS,
     "create_device(deviceId, primaryKey, secondaryKey, authMethod[, deviceCapabilities]) -> "
     "IoTHubDevice. Empty keys: the hub generates them."},
    {"get_device", (PyCFunction)registry_get_device, METH_O,
     "get_device(deviceId) -> IoTHubDevice"},
    {"update_device", PYCFUNC(registry_update_device), METH_VARARGS | METH_KEYWORDS,
     "update_device(deviceId, primaryKey, secondaryKey, status, authMethod[, "
     "deviceCapabilities]). Empty keys keep the current ones."},
    {"delete_device", (PyCFunction)registry_delete_device, METH_O, "delete_device(deviceId)"},
    {"get_device_list", (PyCFunction)registry_get_device_list, METH_VARARGS,
     "get_device_list(numberOfDevices) -> [IoTHubDevice] (at most 1000)."},
    {"get_statistics", (PyCFunction)registry_get_statistics, METH_NOARGS,
     "get_statistics() -> IoTHubRegistryStatistics"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RegistryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubRegistryManager",
    .tp_basicsize = sizeof(RegistryObject),
    .tp_dealloc = (destructor)registry_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "IoTHubRegistryManager(connection_string): the hub's identity registry.",
    .tp_methods = registry_methods,
    .tp_new = registry_new,
};

/* ---- module ---------------------------------------------------------------------------- */

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = MODULE_NAME,
    .m_doc = "iothub_service_client: registry manager for IoT hubs compatible with Azure IoT "
             "Hub (iothubd), over libiothub.",
    .m_size = -1,
};

#define ADD_ENUM(var, name, members)                                                               \
    do {                                                                                           \
        var = pyiothub_enum_add(m, name, members, COUNT(members));                                 \
        if (!var)                                                                                  \
            goto fail;                                                                             \
    } while (0)

static int add_type(PyObject *m, PyTypeObject *type, const char *name)
{
    if (PyType_Ready(type) < 0)
        return -1;
    return PyModule_AddObjectRef(m, name, (PyObject *)type);
}

PyMODINIT_FUNC PyInit_iothub_service_client(void); /* the module's only exported symbol */

PyMODINIT_FUNC PyInit_iothub_service_client(void)
{
    if (iothub_global_init() < 0) {
        PyErr_SetString(PyExc_ImportError,
                        "iothub_service_client: libiothub initialisation failed");
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (PyModule_AddStringConstant(m, "__version__", iothub_version_string()) < 0)
        goto fail;
    IoTHubError = pyiothub_exception_add(m, "IoTHubError", PyExc_Exception);
    if (!IoTHubError)
        goto fail;
    IoTHubServiceClientAuthError =
        pyiothub_exception_add(m, "IoTHubServiceClientAuthError", IoTHubError);
    IoTHubRegistryManagerError =
        pyiothub_exception_add(m, "IoTHubRegistryManagerError", IoTHubError);
    if (!IoTHubServiceClientAuthError || !IoTHubRegistryManagerError)
        goto fail;

    ADD_ENUM(RegistryManagerResult, "IoTHubRegistryManagerResult", rm_result_members);
    ADD_ENUM(AuthMethod, "IoTHubRegistryManagerAuthMethod", auth_method_members);
    ADD_ENUM(ConnectionState, "IoTHubDeviceConnectionState", connection_state_members);
    ADD_ENUM(DeviceStatus, "IoTHubDeviceStatus", device_status_members);

    if (add_type(m, &DeviceType, "IoTHubDevice") < 0 ||
        add_type(m, &StatisticsType, "IoTHubRegistryStatistics") < 0 ||
        add_type(m, &CapabilitiesType, "IoTHubDeviceCapabilities") < 0 ||
        add_type(m, &AuthType, "IoTHubServiceClientAuth") < 0 ||
        add_type(m, &RegistryType, "IoTHubRegistryManager") < 0)
        goto fail;
    return m;

fail:
    Py_DECREF(m);
    return NULL;
}
