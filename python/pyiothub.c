/* Helpers shared by the iothub_client and iothub_service_client extension modules. */
#include "pyiothub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- enum-like types ------------------------------------------------------------------- */
/* Each type is an int subclass created from a spec. Its dict holds the members as attributes
 * plus three dicts: `names` {name: member}, `values` {value: member} and `_member_names`
 * {value: name}, which str(), repr() and .name read. */

/* The member name for self's value: a borrowed reference, or NULL (no exception set) when
 * the value has none. */
static PyObject *enum_name_of(PyObject *self)
{
    PyObject *names = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "_member_names");
    if (!names) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *name = PyDict_Check(names) ? PyDict_GetItemWithError(names, self) : NULL;
    /* The dict lives in the type's dict, which keeps the name alive after this DECREF. */
    Py_DECREF(names);
    if (!name)
        PyErr_Clear();
    return name;
}

static PyObject *enum_str(PyObject *self)
{
    PyObject *name = enum_name_of(self);
    if (name)
        return Py_NewRef(name);
    return PyLong_Type.tp_repr(self);
}

static PyObject *enum_repr(PyObject *self)
{
    const char *type_name = Py_TYPE(self)->tp_name;
    PyObject *name = enum_name_of(self);
    if (name)
        return PyUnicode_FromFormat("%s.%U", type_name, name);
    PyObject *num = PyLong_Type.tp_repr(self);
    if (!num)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("%s(%U)", type_name, num);
    Py_DECREF(num);
    return r;
}

static PyObject *enum_get_name(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *name = enum_name_of(self);
    return Py_NewRef(name ? name : Py_None);
}

static void enum_dealloc(PyObject *self)
{
    /* Instances of a heap type hold a reference to it; int's deallocator does not know. */
    PyTypeObject *tp = Py_TYPE(self);
    PyLong_Type.tp_dealloc(self);
    Py_DECREF(tp);
}

static PyGetSetDef enum_getset[] = {
    {"name", enum_get_name, NULL, "the member's name (None for a value without one)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot enum_slots[] = {
    {Py_tp_str, (void *)enum_str},
    {Py_tp_repr, (void *)enum_repr},
    {Py_tp_dealloc, (void *)enum_dealloc},
    {Py_tp_getset, enum_getset},
    {0, NULL},
};

static int dict_set_new(PyObject *dict, PyObject *key, PyObject *value)
{
    /* Consumes key and value (either may be NULL after a failed constructor). */
    int rc = (key && value) ? PyDict_SetItem(dict, key, value) : -1;
    Py_XDECREF(key);
    Py_XDECREF(value);
    return rc;
}

PyObject *pyiothub_enum_add(PyObject *module, const char *name,
                            const pyiothub_enum_member_t *members, size_t count)
{
    const char *modname = PyModule_GetName(module);
    if (!modname)
        return NULL;
    char qualified[256];
    int n = snprintf(qualified, sizeof(qualified), "%s.%s", modname, name);
    if (n < 0 || (size_t)n >= sizeof(qualified)) {
        PyErr_SetString(PyExc_ValueError, "enum name too long");
        return NULL;
    }
    PyType_Spec spec = {
        .name = qualified, /* copied by CPython (3.10+) */
        .basicsize = 0,    /* an int's layout */
        .itemsize = 0,
        .flags = Py_TPFLAGS_DEFAULT,
        .slots = enum_slots,
    };
    PyObject *bases = PyTuple_Pack(1, (PyObject *)&PyLong_Type);
    if (!bases)
        return NULL;
    PyObject *type = PyType_FromModuleAndSpec(module, &spec, bases);
    Py_DECREF(bases);
    if (!type)
        return NULL;

    PyObject *by_name = PyDict_New();
    PyObject *by_value = PyDict_New();
    PyObject *names = PyDict_New();
    if (!by_name || !by_value || !names)
        goto fail;
    /* The names first: creating members runs no code that needs them, but str() does. */
    for (size_t i = 0; i < count; i++) {
        if (dict_set_new(names, PyLong_FromLong(members[i].value),
                         PyUnicode_FromString(members[i].name)) < 0)
            goto fail;
    }
    if (PyObject_SetAttrString(type, "_member_names", names) < 0)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        PyObject *member = PyObject_CallFunction(type, "l", members[i].value);
        if (!member)
            goto fail;
        int rc = PyObject_SetAttrString(type, members[i].name, member);
        if (rc == 0)
            rc = PyDict_SetItemString(by_name, members[i].name, member);
        if (rc == 0)
            rc = dict_set_new(by_value, PyLong_FromLong(members[i].value), Py_NewRef(member));
        Py_DECREF(member);
        if (rc < 0)
            goto fail;
    }
    if (PyObject_SetAttrString(type, "names", by_name) < 0 ||
        PyObject_SetAttrString(type, "values", by_value) < 0 ||
        PyModule_AddObjectRef(module, name, type) < 0)
        goto fail;
    Py_DECREF(by_name);
    Py_DECREF(by_value);
    Py_DECREF(names);
    return type;

fail:
    Py_XDECREF(by_name);
    Py_XDECREF(by_value);
    Py_XDECREF(names);
    Py_DECREF(type);
    return NULL;
}

PyObject *pyiothub_enum_get(PyObject *enum_type, long value)
{
    PyObject *values = PyObject_GetAttrString(enum_type, "values");
    if (!values)
        return NULL;
    PyObject *key = PyLong_FromLong(value);
    if (!key) {
        Py_DECREF(values);
        return NULL;
    }
    PyObject *member = PyDict_Check(values) ? PyDict_GetItemWithError(values, key) : NULL;
    Py_XINCREF(member);
    Py_DECREF(key);
    Py_DECREF(values);
    if (member || PyErr_Occurred())
        return member;
    return PyObject_CallFunction(enum_type, "l", value);
}

int pyiothub_enum_value(PyObject *obj, long *out)
{
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "expected an enum member or int, got %s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    long v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

/* ---- exceptions ------------------------------------------------------------------------ */

PyObject *pyiothub_exception_add(PyObject *module, const char *name, PyObject *base)
{
    const char *modname = PyModule_GetName(module);
    if (!modname)
        return NULL;
    char qualified[256];
    int n = snprintf(qualified, sizeof(qualified), "%s.%s", modname, name);
    if (n < 0 || (size_t)n >= sizeof(qualified)) {
        PyErr_SetString(PyExc_ValueError, "exception name too long");
        return NULL;
    }
    PyObject *type = PyErr_NewException(qualified, base, NULL);
    if (!type)
        return NULL;
    if (PyModule_AddObjectRef(module, name, type) < 0) {
        Py_DECREF(type);
        return NULL;
    }
    return type;
}

PyObject *pyiothub_raise(PyObject *exc_type, const char *cls, const char *func,
                         PyObject *result_type, long result, const char *detail)
{
    PyObject *member = pyiothub_enum_get(result_type, result);
    if (!member)
        return NULL;
    const char *type_name = ((PyTypeObject *)result_type)->tp_name;
    const char *dot = strrchr(type_name, '.');
    PyObject *msg =
        PyUnicode_FromFormat("%s.%s, %s.%S%s%s%s", cls, func, dot ? dot + 1 : type_name, member,
                             detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    PyObject *exc = msg ? PyObject_CallOneArg(exc_type, msg) : NULL;
    Py_XDECREF(msg);
    if (!exc) {
        Py_DECREF(member);
        return NULL;
    }
    PyObject *func_obj = PyUnicode_FromString(func);
    PyObject *detail_obj = detail ? PyUnicode_FromString(detail) : Py_NewRef(Py_None);
    if (func_obj && detail_obj && PyObject_SetAttrString(exc, "func", func_obj) == 0 &&
        PyObject_SetAttrString(exc, "result", member) == 0 &&
        PyObject_SetAttrString(exc, "detail", detail_obj) == 0)
        PyErr_SetObject(exc_type, exc);
    Py_XDECREF(func_obj);
    Py_XDECREF(detail_obj);
    Py_DECREF(member);
    Py_DECREF(exc);
    return NULL;
}

/* ---- misc ------------------------------------------------------------------------------ */

int pyiothub_read_ca_file(char **pem)
{
    *pem = NULL;
    const char *path = getenv("IOTHUB_CA_FILE");
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        return -1;
    }
    size_t cap = 8192, len = 0;
    char *buf = PyMem_Malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len < cap - 1)
            break;
        if (cap > (64u << 20)) { /* no CA bundle is this large */
            PyMem_Free(buf);
            buf = NULL;
            errno = EFBIG;
            break;
        }
        char *bigger = PyMem_Realloc(buf, cap * 2);
        if (!bigger) {
            PyMem_Free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = !buf || ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        PyMem_Free(buf);
        if (!buf && saved != EFBIG)
            PyErr_NoMemory();
        else {
            errno = saved ? saved : EIO;
            PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        }
        return -1;
    }
    buf[len] = '\0';
    *pem = buf;
    return 0;
}

const char *pyiothub_str_arg(PyObject *obj, const char *what)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: expected str, got %s", what, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    Py_ssize_t size;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &size);
    if (!s)
        return NULL;
    if ((size_t)size != strlen(s)) {
        PyErr_Format(PyExc_ValueError, "%s: embedded NUL character", what);
        return NULL;
    }
    return s;
}
