/* auxstream.domain.eventids: EventIds, one agent's accepted event ids for duplicate checks.
 *
 * The same behaviour as PyEventIds (auxstream/domain/seen.py): ids in the order they were
 * accepted, a membership test, and dropping the oldest ones. Why C: the ids are most of
 * the memory of a running core. Kept as Python objects, an id cost about 130 bytes (the
 * str object, its slot in a set kept sparse, its place in the order list); here it costs
 * its UTF-8 bytes, a NUL, a 4-byte end offset and an 8-byte slot in a table at most half
 * full: about 40 bytes for the usual 16-character id. With 5,000 agents and two days of
 * ids held (an id is kept at least 24 h, and an agent's ids are pruned only when it is
 * active), that is the difference between about 330 and 240 MB.
 *
 * The table is open addressing with linear probing. A slot holds the high 32 bits of the
 * id's 64-bit hash and the id's index plus one (0 is empty), so a probe compares bytes
 * only when those 32 bits match. The hash is FNV-1a with a final mix, over the id's
 * bytes; it is never stored outside the process. Ids are encoded as UTF-8 with
 * "surrogatepass", so every str (lone surrogates too) has exactly one byte form.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    char *data;       /* every id's bytes, each followed by a NUL, oldest first */
    size_t used;
    size_t cap;
    uint32_t *ends;   /* ends[i]: the offset just past id i's NUL */
    Py_ssize_t count;
    Py_ssize_t ends_cap;
    uint64_t *slots;  /* (hash >> 32) << 32 | (index + 1); 0 is an empty slot */
    size_t size;      /* slots in the table, a power of two (0: no table yet) */
    Py_ssize_t nuls;  /* ids holding a NUL: while any is kept, joined() cannot be used */
} EventIds;

static PyTypeObject EventIdsType;

static uint64_t
hash_bytes(const char *bytes, Py_ssize_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (Py_ssize_t i = 0; i < len; i++) {
        h ^= (unsigned char)bytes[i];
        h *= 1099511628211ULL;
    }
    /* splitmix64's finaliser: FNV leaves the low bits (the table position) weak. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* The id's bytes: borrowed from the str when it is plain UTF-8 (almost always), else a new
 * bytes object in *owned that the caller releases. */
static const char *
id_bytes(PyObject *id, Py_ssize_t *len, PyObject **owned)
{
    *owned = NULL;
    const char *bytes = PyUnicode_AsUTF8AndSize(id, len);
    if (bytes != NULL)
        return bytes;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return NULL;
    PyErr_Clear();
    *owned = PyUnicode_AsEncodedString(id, "utf-8", "surrogatepass");
    if (*owned == NULL)
        return NULL;
    *len = PyBytes_GET_SIZE(*owned);
    return PyBytes_AS_STRING(*owned);
}

static inline size_t
id_start(const EventIds *self, Py_ssize_t index)
{
    return index == 0 ? 0 : self->ends[index - 1];
}

/* The index of the id with these bytes, or -1. */
static Py_ssize_t
find(const EventIds *self, const char *bytes, Py_ssize_t len, uint64_t h)
{
    if (self->size == 0)
        return -1;
    size_t mask = self->size - 1;
    uint64_t tag = h >> 32;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint64_t slot = self->slots[i];
        if (slot == 0)
            return -1;
        if ((slot >> 32) == tag) {
            Py_ssize_t index = (Py_ssize_t)(uint32_t)slot - 1;
            size_t start = id_start(self, index);
            if ((size_t)len == self->ends[index] - start - 1 &&
                memcmp(self->data + start, bytes, (size_t)len) == 0)
                return index;
        }
    }
}

static void
place(EventIds *self, Py_ssize_t index, uint64_t h)
{
    size_t mask = self->size - 1;
    size_t i = (size_t)h & mask;
    while (self->slots[i] != 0)
        i = (i + 1) & mask;
    self->slots[i] = ((h >> 32) << 32) | (uint64_t)(index + 1);
}

/* A fresh table of ``size`` slots (a power of two over twice the count) holding every id. */
static int
rebuild(EventIds *self, size_t size)
{
    uint64_t *slots = NULL;
    if (size > 0) {
        slots = calloc(size, sizeof(uint64_t));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    free(self->slots);
    self->slots = slots;
    self->size = size;
    for (Py_ssize_t index = 0; index < self->count; index++) {
        size_t start = id_start(self, index);
        place(self, index, hash_bytes(self->data + start, self->ends[index] - start - 1));
    }
    return 0;
}

static size_t
table_size_for(Py_ssize_t count)
{
    size_t size = 8;
    while (size < (size_t)count * 2 + 2)
        size *= 2;
    return size;
}

static int
append_bytes(EventIds *self, const char *bytes, Py_ssize_t len)
{
    if (self->used + (size_t)len + 1 > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "EventIds: over 4 GB of ids for one agent");
        return -1;
    }
    if (self->used + (size_t)len + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 256;
        while (cap < self->used + (size_t)len + 1)
            cap *= 2;
        char *data = realloc(self->data, cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->data = data;
        self->cap = cap;
    }
    if (self->count == self->ends_cap) {
        Py_ssize_t ends_cap = self->ends_cap ? self->ends_cap * 2 : 16;
        uint32_t *ends = realloc(self->ends, (size_t)ends_cap * sizeof(uint32_t));
        if (ends == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->ends = ends;
        self->ends_cap = ends_cap;
    }
    if (((size_t)self->count + 1) * 2 + 2 > self->size &&
        rebuild(self, table_size_for(self->count + 1)) < 0)
        return -1;
    memcpy(self->data + self->used, bytes, (size_t)len);
    self->used += (size_t)len;
    self->data[self->used++] = '\0';
    self->ends[self->count] = (uint32_t)self->used;
    place(self, self->count, hash_bytes(bytes, len));
    self->count++;
    if (memchr(bytes, '\0', (size_t)len) != NULL)
        self->nuls++;
    return 0;
}

static PyObject *
EventIds_append(EventIds *self, PyObject *id)
{
    if (!PyUnicode_Check(id)) {
        PyErr_Format(PyExc_TypeError, "EventIds: an event id must be str, not %.100s",
                     Py_TYPE(id)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    PyObject *owned;
    const char *bytes = id_bytes(id, &len, &owned);
    if (bytes == NULL)
        return NULL;
    int failed = append_bytes(self, bytes, len);
    Py_XDECREF(owned);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static int
EventIds_contains(EventIds *self, PyObject *id)
{
    if (!PyUnicode_Check(id))
        return 0;
    Py_ssize_t len;
    PyObject *owned;
    const char *bytes = id_bytes(id, &len, &owned);
    if (bytes == NULL)
        return -1;
    int found = find(self, bytes, len, hash_bytes(bytes, len)) >= 0;
    Py_XDECREF(owned);
    return found;
}

static PyObject *
EventIds_drop(EventIds *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0 || n > self->count) {
        PyErr_Format(PyExc_ValueError, "EventIds.drop(%zd) of %zd ids", n, self->count);
        return NULL;
    }
    if (n == 0)
        Py_RETURN_NONE;
    size_t cut = self->ends[n - 1];
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t start = id_start(self, i);
        if (memchr(self->data + start, '\0', self->ends[i] - start - 1) != NULL)
            self->nuls--;
    }
    memmove(self->data, self->data + cut, self->used - cut);
    self->used -= cut;
    self->count -= n;
    for (Py_ssize_t i = 0; i < self->count; i++)
        self->ends[i] = self->ends[i + n] - (uint32_t)cut;
    /* Give back what a busy day left behind once the ids are fewer. */
    if (self->cap > 1024 && self->used < self->cap / 4) {
        size_t cap = self->cap / 2;
        while (cap > 1024 && self->used < cap / 4)
            cap /= 2;
        char *data = realloc(self->data, cap);
        if (data != NULL) {
            self->data = data;
            self->cap = cap;
        }
    }
    if (self->ends_cap > 64 && self->count < self->ends_cap / 4) {
        Py_ssize_t ends_cap = self->ends_cap / 2;
        uint32_t *ends = realloc(self->ends, (size_t)ends_cap * sizeof(uint32_t));
        if (ends != NULL) {
            self->ends = ends;
            self->ends_cap = ends_cap;
        }
    }
    if (rebuild(self, self->count ? table_size_for(self->count) : 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
id_at(const EventIds *self, Py_ssize_t index)
{
    size_t start = id_start(self, index);
    return PyUnicode_DecodeUTF8(self->data + start, (Py_ssize_t)(self->ends[index] - start - 1),
                                "surrogatepass");
}

static PyObject *
EventIds_ids(EventIds *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(self->count);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < self->count; i++) {
        PyObject *id = id_at(self, i);
        if (id == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, id);
    }
    return list;
}

static PyObject *
EventIds_joined(EventIds *self, PyObject *Py_UNUSED(ignored))
{
    if (self->nuls > 0)
        Py_RETURN_NONE;
    /* The block is the ids joined by NUL, plus the last id's NUL. */
    return PyUnicode_DecodeUTF8(self->data, self->used ? (Py_ssize_t)self->used - 1 : 0,
                                "surrogatepass");
}

static int
append_all(EventIds *self, PyObject *iterable)
{
    PyObject *iterator = PyObject_GetIter(iterable);
    if (iterator == NULL)
        return -1;
    PyObject *item;
    while ((item = PyIter_Next(iterator)) != NULL) {
        PyObject *done = EventIds_append(self, item);
        Py_DECREF(item);
        if (done == NULL) {
            Py_DECREF(iterator);
            return -1;
        }
        Py_DECREF(done);
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : 0;
}

static void
clear_ids(EventIds *self)
{
    free(self->data);
    free(self->ends);
    free(self->slots);
    self->data = NULL;
    self->ends = NULL;
    self->slots = NULL;
    self->used = self->cap = self->size = 0;
    self->count = self->ends_cap = self->nuls = 0;
}

static int
EventIds_init(EventIds *self, PyObject *args, PyObject *kwargs)
{
    PyObject *ids = NULL;
    static char *keywords[] = {"ids", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:EventIds", keywords, &ids))
        return -1;
    clear_ids(self);
    return ids == NULL ? 0 : append_all(self, ids);
}

static void
EventIds_dealloc(EventIds *self)
{
    clear_ids(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
EventIds_len(EventIds *self)
{
    return self->count;
}

static PyObject *
EventIds_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(b, &EventIdsType))
        Py_RETURN_NOTIMPLEMENTED;
    /* Equal when they hold the same ids, in any order: what a set of them compared
     * (an agent state loaded from the oldest stored format knows its ids' times, not the
     * order they came in). */
    EventIds *x = (EventIds *)a;
    EventIds *y = (EventIds *)b;
    int equal = x->count == y->count && x->used == y->used;
    for (Py_ssize_t i = 0; equal && i < x->count; i++) {
        size_t start = id_start(x, i);
        Py_ssize_t len = (Py_ssize_t)(x->ends[i] - start - 1);
        equal = find(y, x->data + start, len, hash_bytes(x->data + start, len)) >= 0;
    }
    if (op == Py_NE)
        equal = !equal;
    return PyBool_FromLong(equal);
}

static PyObject *
EventIds_reduce(EventIds *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *ids = EventIds_ids(self, NULL);
    if (ids == NULL)
        return NULL;
    return Py_BuildValue("(O(N))", (PyObject *)Py_TYPE(self), ids);
}

static PyObject *
EventIds_repr(EventIds *self)
{
    return PyUnicode_FromFormat("EventIds(%zd ids)", self->count);
}

static PyMethodDef EventIds_methods[] = {
    {"append", (PyCFunction)EventIds_append, METH_O, "append(id): keep one more id, the newest."},
    {"drop", (PyCFunction)EventIds_drop, METH_O, "drop(n): forget the n oldest ids."},
    {"ids", (PyCFunction)EventIds_ids, METH_NOARGS, "The ids, oldest first, as a list."},
    {"joined", (PyCFunction)EventIds_joined, METH_NOARGS,
     "The ids joined by NUL, or None when an id holds a NUL."},
    {"__reduce__", (PyCFunction)EventIds_reduce, METH_NOARGS, "Pickle as the list of ids."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods EventIds_sequence = {
    .sq_length = (lenfunc)EventIds_len,
    .sq_contains = (objobjproc)EventIds_contains,
};

static PyTypeObject EventIdsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "auxstream.domain.eventids.EventIds",
    .tp_doc = PyDoc_STR("EventIds(ids=()): accepted event ids in order, with a membership test."),
    .tp_basicsize = sizeof(EventIds),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)EventIds_init,
    .tp_dealloc = (destructor)EventIds_dealloc,
    .tp_repr = (reprfunc)EventIds_repr,
    .tp_as_sequence = &EventIds_sequence,
    .tp_richcompare = EventIds_richcompare,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_methods = EventIds_methods,
};

static struct PyModuleDef eventids_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "auxstream.domain.eventids",
    .m_doc = "One agent's accepted event ids, compactly, for the duplicate check.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit_eventids(void)
{
    if (PyType_Ready(&EventIdsType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&eventids_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&EventIdsType);
    if (PyModule_AddObject(module, "EventIds", (PyObject *)&EventIdsType) < 0) {
        Py_DECREF(&EventIdsType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
