/* iothub_client: the device side of the Azure IoT Hub Python SDK's C-extension API (the one
 * the "connect your simulated device" tutorial uses), as a thin layer over libiothub's
 * threaded device client.
 *
 * Threads and the GIL: every libiothub call that may block or take the library's lock runs
 * with the GIL released. Callbacks arrive on the client's worker thread (or, for
 * BECAUSE_DESTROY confirmations, on the thread destroying the client) and take the GIL with
 * PyGILState_Ensure before touching any Python object. An exception raised by a Python
 * callback is reported through sys.unraisablehook and otherwise ignored, as in the SDK.
 *
 * Lifetime: the client's handle is destroyed when the IoTHubClient object is deallocated, or
 * at interpreter exit (an atexit hook), whichever comes first, so that no callback needs the
 * interpreter after it has started to finalize. */
#include "pyiothub.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <structmember.h>

#include "iothub/iothub.h"

#define MODULE_NAME "iothub_client"

/* Runs stmt with the GIL released. */
#define WITHOUT_GIL(stmt)                                                                          \
    do {                                                                                           \
        PyThreadState *ts_ = PyEval_SaveThread();                                                  \
        stmt;                                                                                      \
        PyEval_RestoreThread(ts_);                                                                 \
    } while (0)

/* Casts a method implementation with keyword arguments to the PyCFunction slot type. */
#define PYCFUNC(f) ((PyCFunction)(void (*)(void))(f))

/* ---- module globals (single-phase init: one interpreter) ------------------------------- */

static PyObject *IoTHubError;
static PyObject *IoTHubClientError;
static PyObject *IoTHubMessageError;
static PyObject *IoTHubMapError;

static PyObject *MapResult;
static PyObject *MessageResult;
static PyObject *ClientResult;
static PyObject *ClientStatus;
static PyObject *ConfirmationResult;
static PyObject *DispositionResult;
static PyObject *MessageContent;
static PyObject *ConnectionStatus;
static PyObject *ConnectionStatusReason;
static PyObject *RetryPolicy;
static PyObject *TwinUpdateState;
static PyObject *TransportProvider;

/* The SDK's result codes. */
enum { MAP_OK, MAP_ERROR, MAP_INVALIDARG, MAP_KEYEXISTS, MAP_KEYNOTFOUND, MAP_FILTER_REJECT };
enum { MESSAGE_OK, MESSAGE_INVALID_ARG, MESSAGE_INVALID_TYPE, MESSAGE_ERROR };
enum { CLIENT_OK, CLIENT_INVALID_ARG, CLIENT_ERROR, CLIENT_INVALID_SIZE, CLIENT_INDEFINITE_TIME };
enum { CONTENT_BYTEARRAY, CONTENT_STRING, CONTENT_UNKNOWN };

static const pyiothub_enum_member_t map_result_members[] = {
    {"OK", MAP_OK},
    {"ERROR", MAP_ERROR},
    {"INVALIDARG", MAP_INVALIDARG},
    {"KEYEXISTS", MAP_KEYEXISTS},
    {"KEYNOTFOUND", MAP_KEYNOTFOUND},
    {"FILTER_REJECT", MAP_FILTER_REJECT},
};
static const pyiothub_enum_member_t message_result_members[] = {
    {"OK", MESSAGE_OK},
    {"INVALID_ARG", MESSAGE_INVALID_ARG},
    {"INVALID_TYPE", MESSAGE_INVALID_TYPE},
    {"ERROR", MESSAGE_ERROR},
};
static const pyiothub_enum_member_t client_result_members[] = {
    {"OK", CLIENT_OK},
    {"INVALID_ARG", CLIENT_INVALID_ARG},
    {"ERROR", CLIENT_ERROR},
    {"INVALID_SIZE", CLIENT_INVALID_SIZE},
    {"INDEFINITE_TIME", CLIENT_INDEFINITE_TIME},
};
static const pyiothub_enum_member_t client_status_members[] = {
    {"IDLE", IOTHUB_SEND_STATUS_IDLE},
    {"BUSY", IOTHUB_SEND_STATUS_BUSY},
};
static const pyiothub_enum_member_t confirmation_result_members[] = {
    {"OK", IOTHUB_CONFIRMATION_OK},
    {"BECAUSE_DESTROY", IOTHUB_CONFIRMATION_BECAUSE_DESTROY},
    {"MESSAGE_TIMEOUT", IOTHUB_CONFIRMATION_MESSAGE_TIMEOUT},
    {"ERROR", IOTHUB_CONFIRMATION_ERROR},
};
static const pyiothub_enum_member_t disposition_result_members[] = {
    {"ACCEPTED", IOTHUB_MESSAGE_ACCEPTED},
    {"REJECTED", IOTHUB_MESSAGE_REJECTED},
    {"ABANDONED", IOTHUB_MESSAGE_ABANDONED},
};
static const pyiothub_enum_member_t message_content_members[] = {
    {"BYTEARRAY", CONTENT_BYTEARRAY},
    {"STRING", CONTENT_STRING},
    {"UNKNOWN", CONTENT_UNKNOWN},
};
static const pyiothub_enum_member_t connection_status_members[] = {
    {"AUTHENTICATED", IOTHUB_CONNECTION_AUTHENTICATED},
    {"UNAUTHENTICATED", IOTHUB_CONNECTION_UNAUTHENTICATED},
};
static const pyiothub_enum_member_t connection_status_reason_members[] = {
    {"EXPIRED_SAS_TOKEN", IOTHUB_CONNECTION_EXPIRED_SAS_TOKEN},
    {"DEVICE_DISABLED", IOTHUB_CONNECTION_DEVICE_DISABLED},
    {"BAD_CREDENTIAL", IOTHUB_CONNECTION_BAD_CREDENTIAL},
    {"RETRY_EXPIRED", IOTHUB_CONNECTION_RETRY_EXPIRED},
    {"NO_NETWORK", IOTHUB_CONNECTION_NO_NETWORK},
    {"COMMUNICATION_ERROR", IOTHUB_CONNECTION_COMMUNICATION_ERROR},
    {"CONNECTION_OK", IOTHUB_CONNECTION_OK},
    {"NO_PING_RESPONSE", IOTHUB_CONNECTION_NO_PING_RESPONSE},
};
static const pyiothub_enum_member_t retry_policy_members[] = {
    {"RETRY_NONE", IOTHUB_RETRY_NONE},
    {"RETRY_IMMEDIATE", IOTHUB_RETRY_IMMEDIATE},
    {"RETRY_INTERVAL", IOTHUB_RETRY_INTERVAL},
    {"RETRY_LINEAR_BACKOFF", IOTHUB_RETRY_LINEAR_BACKOFF},
    {"RETRY_EXPONENTIAL_BACKOFF", IOTHUB_RETRY_EXPONENTIAL_BACKOFF},
    {"RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER", IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER},
    {"RETRY_RANDOM", IOTHUB_RETRY_RANDOM},
};
static const pyiothub_enum_member_t twin_update_state_members[] = {
    {"COMPLETE", IOTHUB_TWIN_UPDATE_COMPLETE},
    {"PARTIAL", IOTHUB_TWIN_UPDATE_PARTIAL},
};
static const pyiothub_enum_member_t transport_provider_members[] = {
    {"HTTP", IOTHUB_TRANSPORT_HTTP},
    {"AMQP", IOTHUB_TRANSPORT_AMQP},
    {"MQTT", IOTHUB_TRANSPORT_MQTT},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ---------------------------------------------------------------------------- */

static int map_result_of(int err)
{
    switch (err) {
    case 0:
        return MAP_OK;
    case IOTHUB_EEXIST:
        return MAP_KEYEXISTS;
    case IOTHUB_ENOTFOUND:
        return MAP_KEYNOTFOUND;
    case IOTHUB_EINVAL:
        return MAP_INVALIDARG;
    default:
        return MAP_ERROR;
    }
}

static int client_result_of(int err)
{
    switch (err) {
    case 0:
        return CLIENT_OK;
    case IOTHUB_EINVAL:
    case IOTHUB_ECONNSTR:
    case IOTHUB_EKEY:
    case IOTHUB_EOPTION:
    case IOTHUB_EOPTVALUE:
    case IOTHUB_ECERT:
        return CLIENT_INVALID_ARG;
    case IOTHUB_ETOOBIG:
        return CLIENT_INVALID_SIZE;
    default:
        return CLIENT_ERROR;
    }
}

static PyObject *raise_map(const char *func, int err)
{
    return pyiothub_raise(IoTHubMapError, "IoTHubMap", func, MapResult, map_result_of(err),
                          err ? iothub_strerror(err) : NULL);
}

static PyObject *raise_message(const char *func, int result, int err)
{
    return pyiothub_raise(IoTHubMessageError, "IoTHubMessage", func, MessageResult, result,
                          err ? iothub_strerror(err) : NULL);
}

static PyObject *raise_client(const char *func, int err)
{
    return pyiothub_raise(IoTHubClientError, "IoTHubClient", func, ClientResult,
                          client_result_of(err), iothub_strerror(err));
}

/* ---- IoTHubMessage --------------------------------------------------------------------- */

typedef struct {
    PyObject ob_base;
    iothub_message_t *msg; /* never NULL once constructed */
} MessageObject;

static PyTypeObject MessageType;
static PyTypeObject MapType;

/* Wraps msg (ownership passes to the new object; destroyed on failure). */
static PyObject *message_wrap(iothub_message_t *msg)
{
    MessageObject *self = (MessageObject *)MessageType.tp_alloc(&MessageType, 0);
    if (!self) {
        iothub_message_destroy(msg);
        return NULL;
    }
    self->msg = msg;
    return (PyObject *)self;
}

static PyObject *message_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"source", NULL};
    PyObject *source;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:IoTHubMessage", kwlist, &source))
        return NULL;
    iothub_message_t *msg = NULL;
    int rc;
    if (PyUnicode_Check(source)) {
        const char *s = pyiothub_str_arg(source, "IoTHubMessage");
        if (!s)
            return NULL;
        rc = iothub_message_create_from_string(&msg, s);
    } else if (PyObject_CheckBuffer(source)) {
        /* bytearray as in the SDK; bytes and other buffers too. */
        Py_buffer view;
        if (PyObject_GetBuffer(source, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        rc = iothub_message_create_from_bytes(&msg, view.buf, (size_t)view.len);
        PyBuffer_Release(&view);
    } else {
        PyErr_Format(PyExc_TypeError, "IoTHubMessage: expected type str or bytearray, got %s",
                     Py_TYPE(source)->tp_name);
        return NULL;
    }
    if (rc < 0) {
        if (rc == IOTHUB_ENOMEM)
            return PyErr_NoMemory();
        return raise_message("IoTHubMessage",
                             rc == IOTHUB_ETOOBIG ? MESSAGE_INVALID_ARG : MESSAGE_ERROR, rc);
    }
    MessageObject *self = (MessageObject *)type->tp_alloc(type, 0);
    if (!self) {
        iothub_message_destroy(msg);
        return NULL;
    }
    self->msg = msg;
    return (PyObject *)self;
}

static void message_dealloc(MessageObject *self)
{
    /* (For a Python subclass, subtype_dealloc calls this and then releases the type.) */
    iothub_message_destroy(self->msg);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *message_get_bytearray(MessageObject *self, PyObject *unused)
{
    (void)unused;
    const uint8_t *body;
    size_t len;
    int rc = iothub_message_get_body(self->msg, &body, &len);
    if (rc < 0)
        return raise_message("get_bytearray", MESSAGE_ERROR, rc);
    return PyByteArray_FromStringAndSize((const char *)body, (Py_ssize_t)len);
}

static PyObject *message_get_string(MessageObject *self, PyObject *unused)
{
    (void)unused;
    const char *s = iothub_message_get_string(self->msg);
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *message_get_content_type_enum(MessageObject *self, PyObject *unused)
{
    (void)unused;
    return pyiothub_enum_get(MessageContent,
                             iothub_message_get_kind(self->msg) == IOTHUB_MESSAGE_STRING
                                 ? CONTENT_STRING
                                 : CONTENT_BYTEARRAY);
}

static PyObject *message_properties(MessageObject *self, PyObject *unused);

/* The string system properties share one getter and setter, told apart by this table. */
enum sysprop {
    SYSPROP_MESSAGE_ID,
    SYSPROP_CORRELATION_ID,
    SYSPROP_CONTENT_TYPE,
    SYSPROP_CONTENT_ENCODING
};

static const char *sysprop_get(const iothub_message_t *msg, enum sysprop which)
{
    switch (which) {
    case SYSPROP_MESSAGE_ID:
        return iothub_message_get_message_id(msg);
    case SYSPROP_CORRELATION_ID:
        return iothub_message_get_correlation_id(msg);
    case SYSPROP_CONTENT_TYPE:
        return iothub_message_get_content_type(msg);
    default:
        return iothub_message_get_content_encoding(msg);
    }
}

static int sysprop_set(iothub_message_t *msg, enum sysprop which, const char *value)
{
    switch (which) {
    case SYSPROP_MESSAGE_ID:
        return iothub_message_set_message_id(msg, value);
    case SYSPROP_CORRELATION_ID:
        return iothub_message_set_correlation_id(msg, value);
    case SYSPROP_CONTENT_TYPE:
        return iothub_message_set_content_type(msg, value);
    default:
        return iothub_message_set_content_encoding(msg, value);
    }
}

static const char *const sysprop_setter_names[] = {"set_message_id", "set_correlation_id",
                                                   "set_content_type_system_property",
                                                   "set_content_encoding_system_property"};

static PyObject *message_sysprop_get(MessageObject *self, void *closure)
{
    const char *v = sysprop_get(self->msg, (enum sysprop)(intptr_t)closure);
    if (!v)
        Py_RETURN_NONE;
    return PyUnicode_FromString(v);
}

/* Sets (value: str) or clears (None, or deletion) a system property; 0 or -1. */
static int message_sysprop_set(MessageObject *self, PyObject *value, void *closure)
{
    enum sysprop which = (enum sysprop)(intptr_t)closure;
    const char *s = NULL;
    if (value && value != Py_None) {
        s = pyiothub_str_arg(value, sysprop_setter_names[which]);
        if (!s)
            return -1;
    }
    int rc = sysprop_set(self->msg, which, s);
    if (rc < 0) {
        if (rc == IOTHUB_ENOMEM)
            PyErr_NoMemory();
        else
            raise_message(sysprop_setter_names[which], MESSAGE_INVALID_ARG, rc);
        return -1;
    }
    return 0;
}

/* The SDK's method forms of content type and encoding. The setters return
 * IoTHubMessageResult.OK (and raise on failure). */
static PyObject *message_get_content_type_sysprop(MessageObject *self, PyObject *unused)
{
    (void)unused;
    return message_sysprop_get(self, (void *)(intptr_t)SYSPROP_CONTENT_TYPE);
}

static PyObject *message_set_content_type_sysprop(MessageObject *self, PyObject *value)
{
    if (message_sysprop_set(self, value, (void *)(intptr_t)SYSPROP_CONTENT_TYPE) < 0)
        return NULL;
    return pyiothub_enum_get(MessageResult, MESSAGE_OK);
}

static PyObject *message_get_content_encoding_sysprop(MessageObject *self, PyObject *unused)
{
    (void)unused;
    return message_sysprop_get(self, (void *)(intptr_t)SYSPROP_CONTENT_ENCODING);
}

static PyObject *message_set_content_encoding_sysprop(MessageObject *self, PyObject *value)
{
    if (message_sysprop_set(self, value, (void *)(intptr_t)SYSPROP_CONTENT_ENCODING) < 0)
        return NULL;
    return pyiothub_enum_get(MessageResult, MESSAGE_OK);
}

static PyObject *message_repr(MessageObject *self)
{
    const char *id = iothub_message_get_message_id(self->msg);
    const uint8_t *body;
    size_t len = 0;
    iothub_message_get_body(self->msg, &body, &len);
    return PyUnicode_FromFormat("<%s message_id=%s%s%s, %zu bytes>", Py_TYPE(self)->tp_name,
                                id ? "'" : "", id ? id : "None", id ? "'" : "", len);
}

static PyMethodDef message_methods[] = {
    {"get_bytearray", (PyCFunction)message_get_bytearray, METH_NOARGS, "The body as a bytearray."},
    {"get_string", (PyCFunction)message_get_string, METH_NOARGS,
     "The body as str for a message created from a str; None otherwise."},
    {"get_content_type", (PyCFunction)message_get_content_type_enum, METH_NOARGS,
     "IoTHubMessageContent.STRING or BYTEARRAY: how the body was given."},
    {"get_content_type_system_property", (PyCFunction)message_get_content_type_sysprop, METH_NOARGS,
     "The content type ($.ct), or None."},
    {"set_content_type_system_property", (PyCFunction)message_set_content_type_sysprop, METH_O,
     "Sets the content type ($.ct), e.g. 'application/json'."},
    {"get_content_encoding_system_property", (PyCFunction)message_get_content_encoding_sysprop,
     METH_NOARGS, "The content encoding ($.ce), or None."},
    {"set_content_encoding_system_property", (PyCFunction)message_set_content_encoding_sysprop,
     METH_O, "Sets the content encoding ($.ce), e.g. 'utf-8'."},
    {"properties", (PyCFunction)message_properties, METH_NOARGS,
     "The application properties: an IoTHubMap bound to this message."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef message_getset[] = {
    {"message_id", (getter)message_sysprop_get, (setter)message_sysprop_set,
     "The message id (str or None).", (void *)(intptr_t)SYSPROP_MESSAGE_ID},
    {"correlation_id", (getter)message_sysprop_get, (setter)message_sysprop_set,
     "The correlation id (str or None).", (void *)(intptr_t)SYSPROP_CORRELATION_ID},
    {"content_type", (getter)message_sysprop_get, (setter)message_sysprop_set,
     "The content type, sent as $.ct (str or None).", (void *)(intptr_t)SYSPROP_CONTENT_TYPE},
    {"content_encoding", (getter)message_sysprop_get, (setter)message_sysprop_set,
     "The content encoding, sent as $.ce (str or None).",
     (void *)(intptr_t)SYSPROP_CONTENT_ENCODING},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject MessageType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubMessage",
    .tp_basicsize = sizeof(MessageObject),
    .tp_dealloc = (destructor)message_dealloc,
    .tp_repr = (reprfunc)message_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "IoTHubMessage(source): a telemetry message whose body is source (str or "
              "bytearray).",
    .tp_methods = message_methods,
    .tp_getset = message_getset,
    .tp_new = message_new,
};

/* ---- IoTHubMap ------------------------------------------------------------------------- */
/* A string-to-string map: either the application properties of a message (owner set, the
 * map reads and writes owner's properties) or a free-standing map (own holds a body-less
 * message used only for its properties). */

typedef struct {
    PyObject ob_base;
    MessageObject *owner;
    iothub_message_t *own;
} MapObject;

static iothub_message_t *map_store(MapObject *self)
{
    return self->owner ? self->owner->msg : self->own;
}

static PyObject *message_properties(MessageObject *self, PyObject *unused)
{
    (void)unused;
    MapObject *map = (MapObject *)MapType.tp_alloc(&MapType, 0);
    if (!map)
        return NULL;
    map->owner = (MessageObject *)Py_NewRef(self);
    return (PyObject *)map;
}

static PyObject *map_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"filter", NULL};
    PyObject *filter = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:IoTHubMap", kwlist, &filter))
        return NULL;
    if (filter != Py_None) {
        PyErr_SetString(PyExc_TypeError, "IoTHubMap: filter callbacks are not supported");
        return NULL;
    }
    iothub_message_t *own = NULL;
    if (iothub_message_create_from_bytes(&own, NULL, 0) < 0)
        return PyErr_NoMemory();
    MapObject *self = (MapObject *)type->tp_alloc(type, 0);
    if (!self) {
        iothub_message_destroy(own);
        return NULL;
    }
    self->own = own;
    return (PyObject *)self;
}

static void map_dealloc(MapObject *self)
{
    Py_XDECREF(self->owner);
    iothub_message_destroy(self->own);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int map_key_value(PyObject *args, const char *func, const char **key, const char **value)
{
    PyObject *k, *v;
    if (!PyArg_UnpackTuple(args, func, 2, 2, &k, &v))
        return -1;
    *key = pyiothub_str_arg(k, "key");
    if (!*key)
        return -1;
    *value = pyiothub_str_arg(v, "value");
    return *value ? 0 : -1;
}

static PyObject *map_add(MapObject *self, PyObject *args)
{
    const char *key, *value;
    if (map_key_value(args, "add", &key, &value) < 0)
        return NULL;
    int rc = iothub_message_property_add(map_store(self), key, value);
    if (rc < 0)
        return raise_map("add", rc);
    Py_RETURN_NONE;
}

static PyObject *map_add_or_update(MapObject *self, PyObject *args)
{
    const char *key, *value;
    if (map_key_value(args, "add_or_update", &key, &value) < 0)
        return NULL;
    int rc = iothub_message_property_set(map_store(self), key, value);
    if (rc < 0)
        return raise_map("add_or_update", rc);
    Py_RETURN_NONE;
}

static PyObject *map_delete(MapObject *self, PyObject *key_obj)
{
    const char *key = pyiothub_str_arg(key_obj, "key");
    if (!key)
        return NULL;
    int rc = iothub_message_property_remove(map_store(self), key);
    if (rc < 0)
        return raise_map("delete", rc);
    Py_RETURN_NONE;
}

static PyObject *map_contains_key(MapObject *self, PyObject *key_obj)
{
    const char *key = pyiothub_str_arg(key_obj, "key");
    if (!key)
        return NULL;
    return PyBool_FromLong(iothub_message_property_get(map_store(self), key) != NULL);
}

static PyObject *map_contains_value(MapObject *self, PyObject *value_obj)
{
    const char *value = pyiothub_str_arg(value_obj, "value");
    if (!value)
        return NULL;
    iothub_message_t *m = map_store(self);
    size_t n = iothub_message_property_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (iothub_message_property_at(m, i, &k, &v) == 0 && strcmp(v, value) == 0)
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *map_get_value_from_key(MapObject *self, PyObject *key_obj)
{
    const char *key = pyiothub_str_arg(key_obj, "key");
    if (!key)
        return NULL;
    const char *v = iothub_message_property_get(map_store(self), key);
    if (!v)
        return raise_map("get_value_from_key", IOTHUB_ENOTFOUND);
    return PyUnicode_FromString(v);
}

static PyObject *map_get(MapObject *self, PyObject *args)
{
    PyObject *key_obj, *dflt = Py_None;
    if (!PyArg_UnpackTuple(args, "get", 1, 2, &key_obj, &dflt))
        return NULL;
    const char *key = pyiothub_str_arg(key_obj, "key");
    if (!key)
        return NULL;
    const char *v = iothub_message_property_get(map_store(self), key);
    if (!v)
        return Py_NewRef(dflt);
    return PyUnicode_FromString(v);
}

static PyObject *map_get_internals(MapObject *self, PyObject *unused)
{
    (void)unused;
    iothub_message_t *m = map_store(self);
    PyObject *dict = PyDict_New();
    if (!dict)
        return NULL;
    size_t n = iothub_message_property_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (iothub_message_property_at(m, i, &k, &v) < 0)
            continue;
        PyObject *value = PyUnicode_FromString(v);
        if (!value || PyDict_SetItemString(dict, k, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(value);
    }
    return dict;
}

static Py_ssize_t map_length(MapObject *self)
{
    return (Py_ssize_t)iothub_message_property_count(map_store(self));
}

static int map_contains(MapObject *self, PyObject *key_obj)
{
    if (!PyUnicode_Check(key_obj))
        return 0;
    const char *key = pyiothub_str_arg(key_obj, "key");
    if (!key)
        return -1;
    return iothub_message_property_get(map_store(self), key) != NULL;
}

static PyObject *map_repr(MapObject *self)
{
    PyObject *dict = map_get_internals(self, NULL);
    if (!dict)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("%s(%R)", Py_TYPE(self)->tp_name, dict);
    Py_DECREF(dict);
    return r;
}

static PyMethodDef map_methods[] = {
    {"add", (PyCFunction)map_add, METH_VARARGS,
     "add(key, value): adds a new key (IoTHubMapError KEYEXISTS when present)."},
    {"add_or_update", (PyCFunction)map_add_or_update, METH_VARARGS,
     "add_or_update(key, value): adds or replaces."},
    {"delete", (PyCFunction)map_delete, METH_O, "delete(key): removes key."},
    {"contains_key", (PyCFunction)map_contains_key, METH_O, "contains_key(key) -> bool"},
    {"contains_value", (PyCFunction)map_contains_value, METH_O, "contains_value(value) -> bool"},
    {"get_value_from_key", (PyCFunction)map_get_value_from_key, METH_O,
     "get_value_from_key(key) -> str (IoTHubMapError KEYNOTFOUND when absent)."},
    {"get", (PyCFunction)map_get, METH_VARARGS,
     "get(key, default=None) -> the value of key, or default."},
    {"get_internals", (PyCFunction)map_get_internals, METH_NOARGS,
     "get_internals() -> dict of every key and value."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods map_as_sequence = {
    .sq_length = (lenfunc)map_length,
    .sq_contains = (objobjproc)map_contains,
};

static PyTypeObject MapType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubMap",
    .tp_basicsize = sizeof(MapObject),
    .tp_dealloc = (destructor)map_dealloc,
    .tp_repr = (reprfunc)map_repr,
    .tp_as_sequence = &map_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "IoTHubMap(): a map of string keys to string values (message properties).",
    .tp_methods = map_methods,
    .tp_new = map_new,
};

/* ---- DeviceMethodReturnValue, GetRetryPolicyReturnValue -------------------------------- */

typedef struct {
    PyObject ob_base;
    PyObject *response; /* str */
    int status;
} MethodReturnObject;

static PyObject *method_return_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    MethodReturnObject *self = (MethodReturnObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->response = PyUnicode_FromString("");
    if (!self->response) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int method_return_traverse(MethodReturnObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->response);
    return 0;
}

static int method_return_clear(MethodReturnObject *self)
{
    Py_CLEAR(self->response);
    return 0;
}

static void method_return_dealloc(MethodReturnObject *self)
{
    PyObject_GC_UnTrack(self);
    method_return_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef method_return_members[] = {
    {"response", T_OBJECT, offsetof(MethodReturnObject, response), 0,
     "The method's JSON response text (str)."},
    {"status", T_INT, offsetof(MethodReturnObject, status), 0,
     "The method's status code (e.g. 200)."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject MethodReturnType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".DeviceMethodReturnValue",
    .tp_basicsize = sizeof(MethodReturnObject),
    .tp_dealloc = (destructor)method_return_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_doc = "What a device method callback returns: response (JSON text) and status.",
    .tp_traverse = (traverseproc)method_return_traverse,
    .tp_clear = (inquiry)method_return_clear,
    .tp_members = method_return_members,
    .tp_new = method_return_new,
};

typedef struct {
    PyObject ob_base;
    PyObject *policy;
    PyObject *timeout;
} RetryPolicyValueObject;

static void retry_value_dealloc(RetryPolicyValueObject *self)
{
    Py_XDECREF(self->policy);
    Py_XDECREF(self->timeout);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef retry_value_members[] = {
    {"retryPolicy", T_OBJECT, offsetof(RetryPolicyValueObject, policy), READONLY,
     "IoTHubClientRetryPolicy"},
    {"retryTimeoutLimitInSeconds", T_OBJECT, offsetof(RetryPolicyValueObject, timeout), READONLY,
     "seconds (0: retry forever)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject RetryPolicyValueType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".GetRetryPolicyReturnValue",
    .tp_basicsize = sizeof(RetryPolicyValueObject),
    .tp_dealloc = (destructor)retry_value_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "What IoTHubClient.get_retry_policy() returns.",
    .tp_members = retry_value_members,
};

/* ---- IoTHubClient ---------------------------------------------------------------------- */

typedef struct ClientObject {
    PyObject ob_base;
    iothub_device_client_t *handle; /* NULL once destroyed */
    PyObject *protocol;
    /* Persistent callbacks and their contexts (NULL when unset). */
    PyObject *message_cb, *message_ctx;
    PyObject *method_cb, *method_ctx;
    PyObject *twin_cb, *twin_ctx;
    PyObject *status_cb, *status_ctx;
    /* Every client with a handle, for the atexit hook (changed only with the GIL held). */
    struct ClientObject *prev, *next;
} ClientObject;

static ClientObject *live_clients;

static void client_unlink(ClientObject *self)
{
    if (self->prev)
        self->prev->next = self->next;
    else if (live_clients == self)
        live_clients = self->next;
    if (self->next)
        self->next->prev = self->prev;
    self->prev = self->next = NULL;
}

/* Destroys the handle with the GIL released (callbacks running meanwhile take it). The
 * persistent callbacks, whose context is this object, are unregistered first: when the last
 * reference goes inside one of the client's callbacks, destroy returns at once and the worker
 * finishes the destruction later, after this object is gone. (Pending confirmations carry
 * their own context and still end with BECAUSE_DESTROY.) */
static void client_destroy_handle(ClientObject *self)
{
    iothub_device_client_t *h = self->handle;
    client_unlink(self);
    self->handle = NULL;
    if (!h)
        return;
    bool message = self->message_cb, method = self->method_cb, twin = self->twin_cb,
         status = self->status_cb;
    PyThreadState *ts = PyEval_SaveThread();
    if (message)
        iothub_device_client_set_message_callback(h, NULL, NULL);
    if (method)
        iothub_device_client_set_device_method_callback(h, NULL, NULL);
    if (twin)
        iothub_device_client_set_device_twin_callback(h, NULL, NULL);
    if (status)
        iothub_device_client_set_connection_status_callback(h, NULL, NULL);
    iothub_device_client_destroy(h);
    PyEval_RestoreThread(ts);
}

static int client_check(ClientObject *self)
{
    if (!self->handle) {
        raise_client("check", IOTHUB_EDESTROYING);
        return -1;
    }
    return 0;
}

/* Calls callback(*args) for a library callback: the GIL is held. Returns the result (new
 * reference) or NULL after reporting the exception through sys.unraisablehook. */
static PyObject *call_user(PyObject *callback, PyObject *args)
{
    if (!args) {
        PyErr_WriteUnraisable(callback);
        return NULL;
    }
    PyObject *ret = PyObject_CallObject(callback, args);
    Py_DECREF(args);
    if (!ret)
        PyErr_WriteUnraisable(callback);
    return ret;
}

/* send_event_async: one context per message, freed after its confirmation. */
struct send_ctx {
    PyObject *callback; /* callable or None */
    PyObject *message;
    PyObject *user_context;
};

static void on_send_confirmation(iothub_confirmation_result_t result, void *arg)
{
    struct send_ctx *ctx = arg;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (ctx->callback != Py_None) {
        PyObject *res = pyiothub_enum_get(ConfirmationResult, result);
        PyObject *args = res ? PyTuple_Pack(3, ctx->message, res, ctx->user_context) : NULL;
        Py_XDECREF(res);
        Py_XDECREF(call_user(ctx->callback, args));
    }
    Py_DECREF(ctx->callback);
    Py_DECREF(ctx->message);
    Py_DECREF(ctx->user_context);
    PyMem_Free(ctx);
    PyGILState_Release(gil);
}

static iothub_disposition_t on_c2d_message(const iothub_message_t *msg, void *arg)
{
    ClientObject *self = arg;
    iothub_disposition_t disposition = IOTHUB_MESSAGE_ABANDONED;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *cb = Py_XNewRef(self->message_cb);
    PyObject *ctx = Py_XNewRef(self->message_ctx);
    if (cb) {
        iothub_message_t *copy = NULL;
        PyObject *message = NULL;
        if (iothub_message_clone(&copy, msg) < 0)
            PyErr_NoMemory();
        else
            message = message_wrap(copy);
        PyObject *args = message ? PyTuple_Pack(2, message, ctx) : NULL;
        Py_XDECREF(message);
        PyObject *ret = call_user(cb, args);
        long v;
        if (ret && pyiothub_enum_value(ret, &v) == 0)
            disposition = (iothub_disposition_t)v;
        else if (ret)
            PyErr_WriteUnraisable(cb);
        Py_XDECREF(ret);
    }
    Py_XDECREF(cb);
    Py_XDECREF(ctx);
    PyGILState_Release(gil);
    return disposition;
}

static int on_device_method(const char *method_name, const uint8_t *payload, size_t size,
                            uint8_t **response, size_t *response_size, void *arg)
{
    ClientObject *self = arg;
    int status = 500;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *cb = Py_XNewRef(self->method_cb);
    PyObject *ctx = Py_XNewRef(self->method_ctx);
    if (cb) {
        PyObject *args =
            Py_BuildValue("(ss#O)", method_name, (const char *)payload, (Py_ssize_t)size, ctx);
        PyObject *ret = call_user(cb, args);
        if (ret && PyObject_TypeCheck(ret, &MethodReturnType)) {
            MethodReturnObject *rv = (MethodReturnObject *)ret;
            Py_ssize_t len = 0;
            const char *text = NULL;
            if (rv->response && PyUnicode_Check(rv->response))
                text = PyUnicode_AsUTF8AndSize(rv->response, &len);
            if (text || !PyErr_Occurred()) {
                status = rv->status;
                if (text && len > 0 && (*response = malloc((size_t)len))) {
                    memcpy(*response, text, (size_t)len);
                    *response_size = (size_t)len;
                }
            } else {
                PyErr_WriteUnraisable(cb);
            }
        } else if (ret) {
            PyErr_Format(PyExc_TypeError,
                         "device method callback must return DeviceMethodReturnValue, not %s",
                         Py_TYPE(ret)->tp_name);
            PyErr_WriteUnraisable(cb);
        }
        Py_XDECREF(ret);
    }
    Py_XDECREF(cb);
    Py_XDECREF(ctx);
    PyGILState_Release(gil);
    return status;
}

static void on_twin(iothub_twin_update_state_t state, const uint8_t *payload, size_t size,
                    void *arg)
{
    ClientObject *self = arg;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *cb = Py_XNewRef(self->twin_cb);
    PyObject *ctx = Py_XNewRef(self->twin_ctx);
    if (cb) {
        PyObject *st = pyiothub_enum_get(TwinUpdateState, state);
        PyObject *args =
            st ? Py_BuildValue("(Os#O)", st, (const char *)payload, (Py_ssize_t)size, ctx) : NULL;
        Py_XDECREF(st);
        Py_XDECREF(call_user(cb, args));
    }
    Py_XDECREF(cb);
    Py_XDECREF(ctx);
    PyGILState_Release(gil);
}

static void on_connection_status(iothub_connection_status_t status,
                                 iothub_connection_status_reason_t reason, void *arg)
{
    ClientObject *self = arg;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *cb = Py_XNewRef(self->status_cb);
    PyObject *ctx = Py_XNewRef(self->status_ctx);
    if (cb) {
        PyObject *st = pyiothub_enum_get(ConnectionStatus, status);
        PyObject *why = st ? pyiothub_enum_get(ConnectionStatusReason, reason) : NULL;
        PyObject *args = why ? PyTuple_Pack(3, st, why, ctx) : NULL;
        Py_XDECREF(st);
        Py_XDECREF(why);
        Py_XDECREF(call_user(cb, args));
    }
    Py_XDECREF(cb);
    Py_XDECREF(ctx);
    PyGILState_Release(gil);
}

/* reported state: one context per request. */
struct reported_ctx {
    PyObject *callback;
    PyObject *user_context;
};

static void on_reported_state(int status_code, void *arg)
{
    struct reported_ctx *ctx = arg;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (ctx->callback != Py_None)
        Py_XDECREF(call_user(ctx->callback, Py_BuildValue("(iO)", status_code, ctx->user_context)));
    Py_DECREF(ctx->callback);
    Py_DECREF(ctx->user_context);
    PyMem_Free(ctx);
    PyGILState_Release(gil);
}

static PyObject *client_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"connection_string", "protocol", NULL};
    PyObject *cs_obj, *protocol;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:IoTHubClient", kwlist, &cs_obj, &protocol))
        return NULL;
    const char *cs = pyiothub_str_arg(cs_obj, "connection_string");
    long transport;
    if (!cs || pyiothub_enum_value(protocol, &transport) < 0)
        return NULL;
    char *ca = NULL;
    if (pyiothub_read_ca_file(&ca) < 0)
        return NULL;
    PyObject *protocol_member = pyiothub_enum_get(TransportProvider, transport);
    if (!protocol_member) {
        PyMem_Free(ca);
        return NULL;
    }

    iothub_device_client_t *h = NULL;
    int rc;
    PyThreadState *ts = PyEval_SaveThread();
    rc = iothub_device_client_create_from_connection_string(&h, cs, (iothub_transport_t)transport);
    if (rc == 0 && ca)
        rc = iothub_device_client_set_option_string(h, IOTHUB_OPTION_TRUSTED_CERT, ca);
    if (rc < 0 && h) {
        iothub_device_client_destroy(h);
        h = NULL;
    }
    PyEval_RestoreThread(ts);
    PyMem_Free(ca);
    if (rc < 0) {
        Py_DECREF(protocol_member);
        return raise_client("IoTHubClient", rc);
    }

    ClientObject *self = (ClientObject *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(protocol_member);
        WITHOUT_GIL(iothub_device_client_destroy(h));
        return NULL;
    }
    self->handle = h;
    self->protocol = protocol_member;
    self->next = live_clients;
    if (live_clients)
        live_clients->prev = self;
    live_clients = self;
    return (PyObject *)self;
}

static int client_traverse(ClientObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->protocol);
    Py_VISIT(self->message_cb);
    Py_VISIT(self->message_ctx);
    Py_VISIT(self->method_cb);
    Py_VISIT(self->method_ctx);
    Py_VISIT(self->twin_cb);
    Py_VISIT(self->twin_ctx);
    Py_VISIT(self->status_cb);
    Py_VISIT(self->status_ctx);
    return 0;
}

static int client_clear(ClientObject *self)
{
    Py_CLEAR(self->protocol);
    Py_CLEAR(self->message_cb);
    Py_CLEAR(self->message_ctx);
    Py_CLEAR(self->method_cb);
    Py_CLEAR(self->method_ctx);
    Py_CLEAR(self->twin_cb);
    Py_CLEAR(self->twin_ctx);
    Py_CLEAR(self->status_cb);
    Py_CLEAR(self->status_ctx);
    return 0;
}

static void client_dealloc(ClientObject *self)
{
    PyObject_GC_UnTrack(self);
    /* Pending confirmations end with BECAUSE_DESTROY here, on this thread; the persistent
     * callbacks may still run until destroy returns, so they are cleared only afterwards. */
    client_destroy_handle(self);
    client_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *client_send_event_async(ClientObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"message", "message_callback", "user_context", NULL};
    PyObject *message, *callback, *user_context = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O|O:send_event_async", kwlist, &MessageType,
                                     &message, &callback, &user_context))
        return NULL;
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "send_event_async expected type callable");
        return NULL;
    }
    if (client_check(self) < 0)
        return NULL;
    /* Copy the message while holding the GIL (no other thread can change it meanwhile), then
     * queue the copy without it. */
    iothub_message_t *copy = NULL;
    if (iothub_message_clone(&copy, ((MessageObject *)message)->msg) < 0)
        return PyErr_NoMemory();
    struct send_ctx *ctx = PyMem_Malloc(sizeof(*ctx));
    if (!ctx) {
        iothub_message_destroy(copy);
        return PyErr_NoMemory();
    }
    ctx->callback = Py_NewRef(callback);
    ctx->message = Py_NewRef(message);
    ctx->user_context = Py_NewRef(user_context);
    iothub_device_client_t *h = self->handle;
    int rc;
    WITHOUT_GIL(rc = iothub_device_client_send_event_async(h, copy, on_send_confirmation, ctx));
    iothub_message_destroy(copy);
    if (rc < 0) {
        /* The callback will never run for this request. */
        Py_DECREF(ctx->callback);
        Py_DECREF(ctx->message);
        Py_DECREF(ctx->user_context);
        PyMem_Free(ctx);
        return raise_client("send_event_async", rc);
    }
    Py_RETURN_NONE;
}

static PyObject *client_get_send_status(ClientObject *self, PyObject *unused)
{
    (void)unused;
    if (client_check(self) < 0)
        return NULL;
    iothub_send_status_t status = IOTHUB_SEND_STATUS_IDLE;
    iothub_device_client_t *h = self->handle;
    int rc;
    WITHOUT_GIL(rc = iothub_device_client_get_send_status(h, &status));
    if (rc < 0)
        return raise_client("get_send_status", rc);
    return pyiothub_enum_get(ClientStatus, status);
}

static PyObject *client_set_option(ClientObject *self, PyObject *args)
{
    PyObject *name_obj, *value;
    if (!PyArg_ParseTuple(args, "OO:set_option", &name_obj, &value))
        return NULL;
    const char *name = pyiothub_str_arg(name_obj, "set_option name");
    if (!name)
        return NULL;
    if (client_check(self) < 0)
        return NULL;
    iothub_device_client_t *h = self->handle;
    int rc;
    if (PyLong_Check(value)) { /* bool included */
        long long v = PyLong_AsLongLong(value);
        if (v == -1 && PyErr_Occurred())
            return NULL;
        WITHOUT_GIL(rc = iothub_device_client_set_option_int(h, name, (int64_t)v));
    } else if (PyUnicode_Check(value)) {
        const char *s = pyiothub_str_arg(value, "set_option value");
        if (!s)
            return NULL;
        WITHOUT_GIL(rc = iothub_device_client_set_option_string(h, name, s));
    } else {
        PyErr_SetString(PyExc_TypeError, "set_option expected type int or string");
        return NULL;
    }
    /* The SDK reported a refused option without raising (programs set options meant for
     * other transports); a RuntimeWarning keeps that behaviour visible. */
    if (rc < 0 &&
        PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "IoTHubClient.set_option(\"%s\") failed: %s (%s)",
                         name, iothub_err_name(rc), iothub_strerror(rc)) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Stores callback/context in the slots and registers (or, for callback None, unregisters)
 * the C callback with setter; a refusal raises IoTHubClientError. */
static PyObject *client_set_persistent(ClientObject *self, PyObject *args, const char *func,
                                       PyObject **cb_slot, PyObject **ctx_slot,
                                       int (*register_cb)(ClientObject *, bool))
{
    PyObject *callback, *context = Py_None;
    if (!PyArg_UnpackTuple(args, func, 1, 2, &callback, &context))
        return NULL;
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_Format(PyExc_TypeError, "%s expected type callable", func);
        return NULL;
    }
    if (client_check(self) < 0)
        return NULL;
    PyObject *old_cb = *cb_slot, *old_ctx = *ctx_slot;
    *cb_slot = callback == Py_None ? NULL : Py_NewRef(callback);
    *ctx_slot = callback == Py_None ? NULL : Py_NewRef(context);
    Py_XDECREF(old_cb);
    Py_XDECREF(old_ctx);
    int rc = register_cb(self, callback != Py_None);
    if (rc < 0)
        return raise_client(func, rc);
    Py_RETURN_NONE;
}

static int set_message_cb(ClientObject *self, bool on)
{
    int rc;
    iothub_device_client_t *h = self->handle;
    WITHOUT_GIL(rc =
                    iothub_device_client_set_message_callback(h, on ? on_c2d_message : NULL, self));
    return rc;
}

static int set_method_cb(ClientObject *self, bool on)
{
    int rc;
    iothub_device_client_t *h = self->handle;
    WITHOUT_GIL(rc = iothub_device_client_set_device_method_callback(
                    h, on ? on_device_method : NULL, self));
    return rc;
}

static int set_twin_cb(ClientObject *self, bool on)
{
    int rc;
    iothub_device_client_t *h = self->handle;
    WITHOUT_GIL(rc = iothub_device_client_set_device_twin_callback(h, on ? on_twin : NULL, self));
    return rc;
}

static int set_status_cb(ClientObject *self, bool on)
{
    int rc;
    iothub_device_client_t *h = self->handle;
    WITHOUT_GIL(rc = iothub_device_client_set_connection_status_callback(
                    h, on ? on_connection_status : NULL, self));
    return rc;
}

static PyObject *client_set_message_callback(ClientObject *self, PyObject *args)
{
    return client_set_persistent(self, args, "set_message_callback", &self->message_cb,
                                 &self->message_ctx, set_message_cb);
}

static PyObject *client_set_device_method_callback(ClientObject *self, PyObject *args)
{
    return client_set_persistent(self, args, "set_device_method_callback", &self->method_cb,
                                 &self->method_ctx, set_method_cb);
}

static PyObject *client_set_device_twin_callback(ClientObject *self, PyObject *args)
{
    return client_set_persistent(self, args, "set_device_twin_callback", &self->twin_cb,
                                 &self->twin_ctx, set_twin_cb);
}

static PyObject *client_set_connection_status_callback(ClientObject *self, PyObject *args)
{
    return client_set_persistent(self, args, "set_connection_status_callback", &self->status_cb,
                                 &self->status_ctx, set_status_cb);
}

static PyObject *client_send_reported_state(ClientObject *self, PyObject *args)
{
    PyObject *state_obj, *callback, *user_context = Py_None;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "OnO|O:send_reported_state", &state_obj, &size, &callback,
                          &user_context))
        return NULL;
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "send_reported_state expected type callable");
        return NULL;
    }
    const char *state = pyiothub_str_arg(state_obj, "reported_state");
    if (!state || client_check(self) < 0)
        return NULL;
    size_t len = strlen(state);
    if (size >= 0 && (size_t)size < len)
        len = (size_t)size;
    struct reported_ctx *ctx = PyMem_Malloc(sizeof(*ctx));
    if (!ctx)
        return PyErr_NoMemory();
    ctx->callback = Py_NewRef(callback);
    ctx->user_context = Py_NewRef(user_context);
    /* The library copies the state before it returns; state_obj outlives the call. */
    iothub_device_client_t *h = self->handle;
    int rc;
    WITHOUT_GIL(rc = iothub_device_client_send_reported_state(h, (const uint8_t *)state, len,
                                                              on_reported_state, ctx));
    if (rc < 0) {
        Py_DECREF(ctx->callback);
        Py_DECREF(ctx->user_context);
        PyMem_Free(ctx);
        return raise_client("send_reported_state", rc);
    }
    Py_RETURN_NONE;
}

static PyObject *client_set_retry_policy(ClientObject *self, PyObject *args)
{
    PyObject *policy_obj;
    Py_ssize_t timeout;
    if (!PyArg_ParseTuple(args, "On:set_retry_policy", &policy_obj, &timeout))
        return NULL;
    long policy;
    if (pyiothub_enum_value(policy_obj, &policy) < 0)
        return NULL;
    if (timeout < 0) {
        PyErr_SetString(PyExc_ValueError, "retry timeout must not be negative");
        return NULL;
    }
    if (client_check(self) < 0)
        return NULL;
    iothub_device_client_t *h = self->handle;
    int rc;
    WITHOUT_GIL(rc = iothub_device_client_set_retry_policy(h, (iothub_retry_policy_t)policy,
                                                           (size_t)timeout));
    if (rc < 0)
        return raise_client("set_retry_policy", rc);
    Py_RETURN_NONE;
}

static PyObject *client_get_retry_policy(ClientObject *self, PyObject *unused)
{
    (void)unused;
    if (client_check(self) < 0)
        return NULL;
    iothub_retry_policy_t policy = IOTHUB_RETRY_NONE;
    size_t timeout = 0;
    iothub_device_client_t *h = self->handle;
    int rc;
    WITHOUT_GIL(rc = iothub_device_client_get_retry_policy(h, &policy, &timeout));
    if (rc < 0)
        return raise_client("get_retry_policy", rc);
    RetryPolicyValueObject *rv =
        (RetryPolicyValueObject *)RetryPolicyValueType.tp_alloc(&RetryPolicyValueType, 0);
    if (!rv)
        return NULL;
    rv->policy = pyiothub_enum_get(RetryPolicy, policy);
    rv->timeout = PyLong_FromSize_t(timeout);
    if (!rv->policy || !rv->timeout) {
        Py_DECREF(rv);
        return NULL;
    }
    return (PyObject *)rv;
}

static PyMethodDef client_methods[] = {
    {"send_event_async", PYCFUNC(client_send_event_async), METH_VARARGS | METH_KEYWORDS,
     "send_event_async(message, message_callback, user_context): queues a copy of message; "
     "message_callback(message, result, user_context) runs once with its "
     "IoTHubClientConfirmationResult."},
    {"get_send_status", (PyCFunction)client_get_send_status, METH_NOARGS,
     "IoTHubClientStatus.BUSY while a message waits for its confirmation, else IDLE."},
    {"set_option", (PyCFunction)client_set_option, METH_VARARGS,
     "set_option(name, value): 'messageTimeout' (ms), 'keepalive' (s), 'logtrace' (0/1), "
     "'TrustedCerts' (PEM), 'sas_token_lifetime' (s), 'x509certificate', 'x509privatekey'."},
    {"set_message_callback", (PyCFunction)client_set_message_callback, METH_VARARGS,
     "set_message_callback(callback, user_context): callback(message, user_context) returns "
     "an IoTHubMessageDispositionResult."},
    {"set_device_method_callback", (PyCFunction)client_set_device_method_callback, METH_VARARGS,
     "set_device_method_callback(callback, user_context): callback(method_name, payload, "
     "user_context) returns a DeviceMethodReturnValue."},
    {"set_device_twin_callback", (PyCFunction)client_set_device_twin_callback, METH_VARARGS,
     "set_device_twin_callback(callback, user_context): callback(update_state, payload, "
     "user_context)."},
    {"set_connection_status_callback", (PyCFunction)client_set_connection_status_callback,
     METH_VARARGS,
     "set_connection_status_callback(callback, user_context): callback(result, reason, "
     "user_context)."},
    {"send_reported_state", (PyCFunction)client_send_reported_state, METH_VARARGS,
     "send_reported_state(reported_state, size, callback, user_context): callback("
     "status_code, user_context)."},
    {"set_retry_policy", (PyCFunction)client_set_retry_policy, METH_VARARGS,
     "set_retry_policy(IoTHubClientRetryPolicy, timeout_limit_in_seconds)."},
    {"get_retry_policy", (PyCFunction)client_get_retry_policy, METH_NOARGS,
     "get_retry_policy() -> GetRetryPolicyReturnValue."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef client_members[] = {
    {"protocol", T_OBJECT, offsetof(ClientObject, protocol), READONLY,
     "The IoTHubTransportProvider the client was created with."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = MODULE_NAME ".IoTHubClient",
    .tp_basicsize = sizeof(ClientObject),
    .tp_dealloc = (destructor)client_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_doc = "IoTHubClient(connection_string, IoTHubTransportProvider.MQTT): a device's "
              "connection to the hub.",
    .tp_traverse = (traverseproc)client_traverse,
    .tp_clear = (inquiry)client_clear,
    .tp_methods = client_methods,
    .tp_members = client_members,
    .tp_new = client_new,
};

/* ---- module ---------------------------------------------------------------------------- */

/* Registered with atexit: destroys every client while the interpreter is fully alive. */
static PyObject *module_atexit(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    while (live_clients)
        client_destroy_handle(live_clients);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"_atexit", module_atexit, METH_NOARGS, "Destroys every client (runs at interpreter exit)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = MODULE_NAME,
    .m_doc = "iothub_client: device client for IoT hubs compatible with Azure IoT Hub "
             "(iothubd), over libiothub.",
    .m_size = -1,
    .m_methods = module_methods,
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

static int register_atexit(PyObject *m)
{
    PyObject *atexit = PyImport_ImportModule("atexit");
    if (!atexit)
        return -1;
    PyObject *hook = PyObject_GetAttrString(m, "_atexit");
    PyObject *r = hook ? PyObject_CallMethod(atexit, "register", "O", hook) : NULL;
    Py_XDECREF(hook);
    Py_DECREF(atexit);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

PyMODINIT_FUNC PyInit_iothub_client(void); /* the module's only exported symbol */

PyMODINIT_FUNC PyInit_iothub_client(void)
{
    if (iothub_global_init() < 0) {
        PyErr_SetString(PyExc_ImportError, "iothub_client: libiothub initialisation failed");
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
    IoTHubMapError = pyiothub_exception_add(m, "IoTHubMapError", IoTHubError);
    IoTHubMessageError = pyiothub_exception_add(m, "IoTHubMessageError", IoTHubError);
    IoTHubClientError = pyiothub_exception_add(m, "IoTHubClientError", IoTHubError);
    if (!IoTHubMapError || !IoTHubMessageError || !IoTHubClientError)
        goto fail;

    ADD_ENUM(MapResult, "IoTHubMapResult", map_result_members);
    ADD_ENUM(MessageResult, "IoTHubMessageResult", message_result_members);
    ADD_ENUM(ClientResult, "IoTHubClientResult", client_result_members);
    ADD_ENUM(ClientStatus, "IoTHubClientStatus", client_status_members);
    ADD_ENUM(ConfirmationResult, "IoTHubClientConfirmationResult", confirmation_result_members);
    ADD_ENUM(DispositionResult, "IoTHubMessageDispositionResult", disposition_result_members);
    ADD_ENUM(MessageContent, "IoTHubMessageContent", message_content_members);
    ADD_ENUM(ConnectionStatus, "IoTHubConnectionStatus", connection_status_members);
    ADD_ENUM(ConnectionStatusReason, "IoTHubClientConnectionStatusReason",
             connection_status_reason_members);
    ADD_ENUM(RetryPolicy, "IoTHubClientRetryPolicy", retry_policy_members);
    ADD_ENUM(TwinUpdateState, "IoTHubTwinUpdateState", twin_update_state_members);
    ADD_ENUM(TransportProvider, "IoTHubTransportProvider", transport_provider_members);

    if (add_type(m, &MessageType, "IoTHubMessage") < 0 || add_type(m, &MapType, "IoTHubMap") < 0 ||
        add_type(m, &MethodReturnType, "DeviceMethodReturnValue") < 0 ||
        add_type(m, &RetryPolicyValueType, "GetRetryPolicyReturnValue") < 0 ||
        add_type(m, &ClientType, "IoTHubClient") < 0 || register_atexit(m) < 0)
        goto fail;
    return m;

fail:
    Py_DECREF(m);
    return NULL;
}
