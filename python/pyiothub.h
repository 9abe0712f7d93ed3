/* Helpers shared by the two CPython extension modules (iothub_client, iothub_service_client):
 * enum-like types that print as their names, the IoTHubError exception family, and the CA
 * file named by the IOTHUB_CA_FILE environment variable.
 *
 * Every function here must be called with the GIL held. */
#ifndef PYIOTHUB_H
#define PYIOTHUB_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* One member of an enum-like type. */
typedef struct {
    const char *name;
    long value;
} pyiothub_enum_member_t;

/* Creates `<module>.<name>`: a subclass of int whose members are class attributes (e.g.
 * IoTHubClientConfirmationResult.OK), whose str() is the member's name ("OK") and whose repr()
 * is "<module>.<name>.<member>", as the SDK's enums printed. The class also has `names`
 * ({name: member}) and `values` ({value: member}) dicts, and each member a `name` attribute.
 * Adds the type to the module. Returns a new reference, or NULL with an exception set. */
PyObject *pyiothub_enum_add(PyObject *module, const char *name,
                            const pyiothub_enum_member_t *members, size_t count);

/* The member of enum_type with this value (new reference); for a value that has no member,
 * an unnamed instance of the type. NULL with an exception set on failure. */
PyObject *pyiothub_enum_get(PyObject *enum_type, long value);

/* Converts an enum member, or any int, to a C long; -1 with an exception set on failure
 * (TypeError when obj is not an int). */
int pyiothub_enum_value(PyObject *obj, long *out);

/* Creates the exception class `<module>.<name>` derived from base and adds it to the module.
 * Returns a new reference or NULL. */
PyObject *pyiothub_exception_add(PyObject *module, const char *name, PyObject *base);

/* Raises exc_type with the message "<cls>.<func>, <result_type_name>.<result name>", the
 * SDK's format, followed by " (<detail>)" when detail is not NULL. The exception carries the
 * attributes `func` (str), `result` (the enum member) and `detail` (str or None). Always
 * returns NULL. */
PyObject *pyiothub_raise(PyObject *exc_type, const char *cls, const char *func,
                         PyObject *result_type, long result, const char *detail);

/* The contents of the PEM file named by IOTHUB_CA_FILE: 0 with *pem = NULL when the variable
 * is unset or empty, 0 with a PyMem_Malloc()ed NUL-terminated copy of the file in *pem, or -1
 * with an exception (OSError) set when the file cannot be read. Free *pem with PyMem_Free. */
int pyiothub_read_ca_file(char **pem);

/* The UTF-8 text of a str argument, with a TypeError naming what when obj is not a str, or a
 * ValueError when it contains a NUL character. The pointer lives as long as obj. */
const char *pyiothub_str_arg(PyObject *obj, const char *what);

#endif
