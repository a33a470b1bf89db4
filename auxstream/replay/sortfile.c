/* auxstream.replay.sortfile: SortedFile (auxstream/replay/sink.py) with its buffer in C.
 *
 * Why C: replay writes about 1.5 records per event, and the Python sink spent about a
 * third of replay's time on them: every buffered record became several Python objects
 * again at each spill (a line, a float, an index, marshalled keys, their copies read
 * back), and the merge compared keys through Python. Here a record is copied once into
 * a block of memory, sorted by a C comparison, written to a run, and merged from the runs
 * a buffered read at a time: no object per record at all.
 *
 * The order is exactly sink.py's: by the first key (a float), then the rest of the key
 * (a str, or a tuple of str and int items), then the line, as Python compares them. The
 * rest of the key is encoded once, at add, into bytes whose memcmp order is Python's
 * order: a str as UTF-8 ("surrogatepass": code point order is byte order), with NUL
 * escaped as 00 FF and each item ended by 00 00, so a shorter item sorts first; an int as
 * 8 big-endian bytes with the sign bit flipped. Equal keys with equal lines are equal
 * records, so the order among them does not change the bytes written.
 *
 * Memory: one block per file, spilled as a sorted run once it holds ``spill_bytes``; runs
 * go to ``spill_dir`` and are removed at close. tests/unit/test_replay_sortfile.py checks
 * that this and sink.SortedFile write the same bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each file is used by one thread at a time (the GIL, or the one running a sort or a
 * merge without it): glibc's unlocked stdio spares a lock per record. */

typedef struct {
    double first;
    uint64_t offset; /* of the encoded rest in the block; the line follows it */
    uint32_t rest_len;
    uint32_t line_len;
} Entry;

typedef struct {
    PyObject_HEAD
    PyObject *path;      /* str: the output file */
    PyObject *spill_dir; /* str */
    Py_ssize_t spill_bytes;
    char *block;
    size_t used, capacity;
    Entry *entries;
    size_t count, slots;
    char **runs; /* paths of the spilled runs */
    size_t nruns;
    long long spilled; /* records written to runs */
    int closed;
} SortedFile;

/* ------------------------------------------------------------------ the block */

static int
reserve(SortedFile *self, size_t more)
{
    if (self->used + more <= self->capacity)
        return 0;
    size_t capacity = self->capacity ? self->capacity : (size_t)1 << 20;
    while (capacity < self->used + more)
        capacity *= 2;
    char *block = realloc(self->block, capacity);
    if (block == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->block = block;
    self->capacity = capacity;
    return 0;
}

/* Append ``data`` with NUL escaped as 00 FF, then the item end 00 00. */
static int
put_item_bytes(SortedFile *self, const char *data, Py_ssize_t size)
{
    Py_ssize_t nuls = 0;
    const char *at = data;
    const char *end = data + size;
    while ((at = memchr(at, 0, (size_t)(end - at))) != NULL) {
        nuls++;
        at++;
    }
    if (reserve(self, (size_t)(size + nuls + 2)) < 0)
        return -1;
    char *out = self->block + self->used;
    if (nuls == 0) {
        memcpy(out, data, (size_t)size);
        out += size;
    }
    else {
        for (Py_ssize_t i = 0; i < size; i++) {
            *out++ = data[i];
            if (data[i] == 0)
                *out++ = (char)0xFF;
        }
    }
    *out++ = 0;
    *out++ = 0;
    self->used = (size_t)(out - self->block);
    return 0;
}

static int
put_item(SortedFile *self, PyObject *item)
{
    if (PyUnicode_Check(item)) {
        if (PyUnicode_IS_ASCII(item))
            return put_item_bytes(self, (const char *)PyUnicode_DATA(item),
                                  PyUnicode_GET_LENGTH(item));
        PyObject *utf8 = PyUnicode_AsEncodedString(item, "utf-8", "surrogatepass");
        if (utf8 == NULL)
            return -1;
        int done = put_item_bytes(self, PyBytes_AS_STRING(utf8), PyBytes_GET_SIZE(utf8));
        Py_DECREF(utf8);
        return done;
    }
    if (PyLong_Check(item) && !PyBool_Check(item)) {
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow) {
            PyErr_SetString(PyExc_OverflowError, "sortfile: an int sort key beyond 64 bits");
            return -1;
        }
        if (value == -1 && PyErr_Occurred())
            return -1;
        uint64_t bits = (uint64_t)value ^ ((uint64_t)1 << 63);
        if (reserve(self, 8) < 0)
            return -1;
        unsigned char *out = (unsigned char *)self->block + self->used;
        for (int i = 7; i >= 0; i--) {
            out[i] = (unsigned char)(bits & 0xFF);
            bits >>= 8;
        }
        self->used += 8;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "sortfile: a sort key item must be a str or an int, not %.100s",
                 Py_TYPE(item)->tp_name);
    return -1;
}

/* ------------------------------------------------------------------ order */

static int
compare_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

static int
compare_entries(const void *pa, const void *pb, void *context)
{
    const Entry *a = pa;
    const Entry *b = pb;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    const char *block = context;
    const char *ra = block + a->offset;
    const char *rb = block + b->offset;
    int c = compare_bytes(ra, a->rest_len, rb, b->rest_len);
    if (c)
        return c;
    /* The lines without their newlines, as sink.py compares them. */
    return compare_bytes(ra + a->rest_len, a->line_len - 1, rb + b->rest_len, b->line_len - 1);
}

/* ------------------------------------------------------------------ files */

/* Output and runs are written 16 KB at a time. 4 KB (glibc's default) made a system call
 * per 4 KB, about 150,000 a day; 1 MB ones cost more in the kernel than they saved (the
 * page cache then copies into large folios of cold memory): on one simulated day, CPU
 * 7.07 s with 4 KB, 7.27 s with 1 MB, 6.91 s with 64 KB and with 16 KB, whose system time
 * stayed that of 4 KB. */
#define WRITE_BUFFER ((size_t)1 << 14)

/* A buffer of ``size`` bytes for ``file``, to free after fclose (NULL: the default one):
 * glibc's setvbuf with no buffer of ours keeps its 4 KB one whatever size is asked. */
static char *
give_buffer(FILE *file, size_t size)
{
    char *buffer = malloc(size);
    if (buffer != NULL && setvbuf(file, buffer, _IOFBF, size) != 0) {
        free(buffer);
        buffer = NULL;
    }
    return buffer;
}

static FILE *
open_file(PyObject *path, const char *mode, char **buffer)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(path, &bytes))
        return NULL;
    FILE *file = fopen(PyBytes_AS_STRING(bytes), mode);
    *buffer = NULL;
    if (file == NULL)
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    else
        *buffer = give_buffer(file, WRITE_BUFFER);
    Py_DECREF(bytes);
    return file;
}

/* Sort the buffered entries and write them to a new run; the buffer is left empty. */
static int
spill(SortedFile *self)
{
    if (self->count == 0)
        return 0;
    PyObject *dir = NULL;
    if (!PyUnicode_FSConverter(self->spill_dir, &dir))
        return -1;
    size_t size = (size_t)PyBytes_GET_SIZE(dir) + 32;
    char *name = malloc(size);
    if (name == NULL) {
        Py_DECREF(dir);
        PyErr_NoMemory();
        return -1;
    }
    snprintf(name, size, "%s/run-XXXXXX", PyBytes_AS_STRING(dir));
    Py_DECREF(dir);
    int fd = mkstemp(name);
    if (fd < 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
        free(name);
        return -1;
    }
    FILE *run = fdopen(fd, "wb");
    if (run == NULL) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
        close(fd);
        unlink(name);
        free(name);
        return -1;
    }
    char *buffer = give_buffer(run, WRITE_BUFFER);
    char **runs = realloc(self->runs, (self->nruns + 1) * sizeof(char *));
    if (runs == NULL) {
        fclose(run);
        free(buffer);
        unlink(name);
        free(name);
        PyErr_NoMemory();
        return -1;
    }
    self->runs = runs;
    self->runs[self->nruns++] = name; /* removed at close, whatever happens next */
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    qsort_r(self->entries, self->count, sizeof(Entry), compare_entries, self->block);
    for (size_t i = 0; i < self->count && !failed; i++) {
        Entry *e = &self->entries[i];
        uint32_t lengths[2] = {e->rest_len, e->line_len};
        if (fwrite_unlocked(&e->first, sizeof(double), 1, run) != 1 ||
            fwrite_unlocked(lengths, sizeof(uint32_t), 2, run) != 2 ||
            fwrite_unlocked(self->block + e->offset, 1, (size_t)e->rest_len + e->line_len, run) !=
                (size_t)e->rest_len + e->line_len)
            failed = errno ? errno : EIO;
    }
    if (fclose(run) != 0 && !failed)
        failed = errno ? errno : EIO;
    free(buffer);
    Py_END_ALLOW_THREADS
    if (failed) {
        errno = failed;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
        return -1;
    }
    self->spilled += (long long)self->count;
    self->count = 0;
    self->used = 0;
    return 0;
}

/* One run being merged: its next entry, read into a buffer of its own. */
typedef struct {
    FILE *file;
    char *buffer; /* the file's stdio buffer */
    double first;
    uint32_t rest_len, line_len;
    char *data;
    size_t capacity;
    int done;
} Reader;

static int
advance(Reader *r)
{
    uint32_t lengths[2];
    if (fread_unlocked(&r->first, sizeof(double), 1, r->file) != 1) {
        if (ferror(r->file))
            return -1;
        r->done = 1;
        return 0;
    }
    if (fread_unlocked(lengths, sizeof(uint32_t), 2, r->file) != 2)
        return -1;
    r->rest_len = lengths[0];
    r->line_len = lengths[1];
    size_t need = (size_t)lengths[0] + lengths[1];
    if (need > r->capacity) {
        size_t capacity = r->capacity ? r->capacity : 1024;
        while (capacity < need)
            capacity *= 2;
        char *data = realloc(r->data, capacity);
        if (data == NULL)
            return -1;
        r->data = data;
        r->capacity = capacity;
    }
    if (need && fread_unlocked(r->data, 1, need, r->file) != need)
        return -1;
    return 0;
}

static int
reader_less(const Reader *a, const Reader *b)
{
    if (a->first != b->first)
        return a->first < b->first;
    int c = compare_bytes(a->data, a->rest_len, b->data, b->rest_len);
    if (c)
        return c < 0;
    return compare_bytes(a->data + a->rest_len, a->line_len - 1, b->data + b->rest_len,
                         b->line_len - 1) < 0;
}

/* Merge every run into ``out``; returns 0, or an errno value. */
static int
merge_runs(SortedFile *self, FILE *out)
{
    size_t n = self->nruns;
    Reader *readers = calloc(n, sizeof(Reader));
    if (readers == NULL)
        return ENOMEM;
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        readers[i].file = fopen(self->runs[i], "rb");
        if (readers[i].file == NULL)
            failed = errno ? errno : EIO;
        else {
            readers[i].buffer = give_buffer(readers[i].file, (size_t)1 << 18);
            if (advance(&readers[i]) < 0)
                failed = errno ? errno : EIO;
        }
    }
    while (!failed) {
        Reader *low = NULL;
        for (size_t i = 0; i < n; i++) {
            Reader *r = &readers[i];
            if (!r->done && (low == NULL || reader_less(r, low)))
                low = r;
        }
        if (low == NULL)
            break;
        if (fwrite_unlocked(low->data + low->rest_len, 1, low->line_len, out) != low->line_len ||
            advance(low) < 0)
            failed = errno ? errno : EIO;
    }
    for (size_t i = 0; i < n; i++) {
        if (readers[i].file != NULL)
            fclose(readers[i].file);
        free(readers[i].buffer);
        free(readers[i].data);
    }
    free(readers);
    return failed;
}

static void
remove_runs(SortedFile *self)
{
    for (size_t i = 0; i < self->nruns; i++) {
        unlink(self->runs[i]);
        free(self->runs[i]);
    }
    free(self->runs);
    self->runs = NULL;
    self->nruns = 0;
}

static void
free_buffer(SortedFile *self)
{
    free(self->block);
    free(self->entries);
    self->block = NULL;
    self->entries = NULL;
    self->used = self->capacity = self->count = self->slots = 0;
}

/* ------------------------------------------------------------------ the type */

static PyObject *
SortedFile_add(SortedFile *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "add(first, rest, line) takes 3 arguments");
        return NULL;
    }
    if (self->closed) {
        PyErr_SetString(PyExc_ValueError, "sortfile: add after close");
        return NULL;
    }
    /* An event time comes as an int (exact below 2**53); converted here, not boxed as a
     * float by the caller. */
    double first = PyFloat_CheckExact(args[0]) ? PyFloat_AS_DOUBLE(args[0])
                   : PyLong_CheckExact(args[0]) ? PyLong_AsDouble(args[0])
                                                : PyFloat_AsDouble(args[0]);
    if (first == -1.0 && PyErr_Occurred())
        return NULL;
    if (first != first) {
        PyErr_SetString(PyExc_ValueError, "sortfile: a NaN sort key");
        return NULL;
    }
    PyObject *line = args[2];
    if (!PyBytes_Check(line)) {
        PyErr_Format(PyExc_TypeError, "sortfile: a line must be bytes, not %.100s",
                     Py_TYPE(line)->tp_name);
        return NULL;
    }
    Py_ssize_t line_len = PyBytes_GET_SIZE(line);
    if (line_len > (Py_ssize_t)UINT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "sortfile: a line over 2 GB");
        return NULL;
    }
    if (self->count == self->slots) {
        size_t slots = self->slots ? self->slots * 2 : 4096;
        Entry *entries = realloc(self->entries, slots * sizeof(Entry));
        if (entries == NULL)
            return PyErr_NoMemory();
        self->entries = entries;
        self->slots = slots;
    }
    size_t start = self->used;
    PyObject *rest = args[1];
    int failed = 0;
    if (PyTuple_CheckExact(rest)) {
        Py_ssize_t n = PyTuple_GET_SIZE(rest);
        for (Py_ssize_t i = 0; i < n && !failed; i++)
            failed = put_item(self, PyTuple_GET_ITEM(rest, i));
    }
    else
        failed = put_item(self, rest);
    if (failed || reserve(self, (size_t)line_len + 1) < 0) {
        self->used = start;
        return NULL;
    }
    size_t rest_len = self->used - start;
    /* The line comes without its newline: added here, saving the caller a copy. */
    memcpy(self->block + self->used, PyBytes_AS_STRING(line), (size_t)line_len);
    self->used += (size_t)line_len;
    self->block[self->used++] = '\n';
    line_len++;
    Entry *e = &self->entries[self->count++];
    e->first = first;
    e->offset = start;
    e->rest_len = (uint32_t)rest_len;
    e->line_len = (uint32_t)line_len;
    if (self->used >= (size_t)self->spill_bytes && spill(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
SortedFile_check(SortedFile *self, PyObject *Py_UNUSED(ignored))
{
    /* add() spills as soon as the block is full: nothing is left to check. */
    Py_RETURN_NONE;
}

static PyObject *
SortedFile_close(SortedFile *self, PyObject *Py_UNUSED(ignored))
{
    if (self->closed)
        Py_RETURN_NONE;
    self->closed = 1;
    int ok = 1;
    if (self->nruns && self->count)
        ok = spill(self) == 0;
    char *out_buffer = NULL;
    FILE *out = ok ? open_file(self->path, "wb", &out_buffer) : NULL;
    if (out == NULL) {
        free_buffer(self);
        remove_runs(self);
        return NULL;
    }
    int failed = 0;
    if (self->nruns == 0) {
        Py_BEGIN_ALLOW_THREADS
        qsort_r(self->entries, self->count, sizeof(Entry), compare_entries, self->block);
        for (size_t i = 0; i < self->count && !failed; i++) {
            Entry *e = &self->entries[i];
            if (fwrite_unlocked(self->block + e->offset + e->rest_len, 1, e->line_len, out) !=
                e->line_len)
                failed = errno ? errno : EIO;
        }
        Py_END_ALLOW_THREADS
    }
    else {
        free_buffer(self);
        Py_BEGIN_ALLOW_THREADS
        failed = merge_runs(self, out);
        Py_END_ALLOW_THREADS
    }
    if (fclose(out) != 0 && !failed)
        failed = errno ? errno : EIO;
    free(out_buffer);
    free_buffer(self);
    remove_runs(self);
    if (failed) {
        errno = failed;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, self->path);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
SortedFile_get_count(SortedFile *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->spilled + (long long)self->count);
}

static PyObject *
SortedFile_get_runs(SortedFile *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(self->nruns);
}

static int
SortedFile_init(SortedFile *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"path", "spill_dir", "spill_bytes", NULL};
    PyObject *path, *spill_dir;
    Py_ssize_t spill_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&O&n", names, PyUnicode_FSDecoder, &path,
                                     PyUnicode_FSDecoder, &spill_dir, &spill_bytes))
        return -1;
    if (spill_bytes < 1) {
        Py_DECREF(path);
        Py_DECREF(spill_dir);
        PyErr_SetString(PyExc_ValueError, "sortfile: spill_bytes must be positive");
        return -1;
    }
    Py_XSETREF(self->path, path);
    Py_XSETREF(self->spill_dir, spill_dir);
    self->spill_bytes = spill_bytes;
    return 0;
}

static void
SortedFile_dealloc(SortedFile *self)
{
    free_buffer(self);
    remove_runs(self);
    Py_XDECREF(self->path);
    Py_XDECREF(self->spill_dir);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef SortedFile_methods[] = {
    {"add", (PyCFunction)(void (*)(void))SortedFile_add, METH_FASTCALL,
     "add(first, rest, line): buffer one record, its line without a newline (spills a sorted "
     "run when the block is full)."},
    {"check", (PyCFunction)SortedFile_check, METH_NOARGS, "Nothing to do: add spills."},
    {"close", (PyCFunction)SortedFile_close, METH_NOARGS,
     "Write every record to the file in order and remove the runs."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef SortedFile_getset[] = {
    {"count", (getter)SortedFile_get_count, NULL, "Records added.", NULL},
    {"runs", (getter)SortedFile_get_runs, NULL, "Runs spilled so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SortedFileType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "auxstream.replay.sortfile.SortedFile",
    .tp_doc = PyDoc_STR("SortedFile(path, spill_dir, spill_bytes): one JSONL output file whose "
                        "lines are written in sort-key order at close."),
    .tp_basicsize = sizeof(SortedFile),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SortedFile_init,
    .tp_dealloc = (destructor)SortedFile_dealloc,
    .tp_methods = SortedFile_methods,
    .tp_getset = SortedFile_getset,
};

static struct PyModuleDef sortfile_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "auxstream.replay.sortfile",
    .m_doc = "Replay's sorted output files with the buffer, sort and merge in C.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit_sortfile(void)
{
    if (PyType_Ready(&SortedFileType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&sortfile_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&SortedFileType);
    if (PyModule_AddObject(module, "SortedFile", (PyObject *)&SortedFileType) < 0) {
        Py_DECREF(&SortedFileType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
