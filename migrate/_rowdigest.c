/* Compiled form of the hashing helper's hot loop (migrate/sourcehash.py): stored SQLite rows -> the sum of
 * the first 64 bits of md5(canonical row text), without building a Python string per row.
 *
 * It is an accelerator only. Every rule lives in Python (sourcehash._fast_paths, canonical.jsonb_text);
 * this file repeats the common cases of those rules in C and hands every other value back to Python:
 *   - a column spec says, per stored class (int, float, str, bytes), what to do with a value: a built-in
 *     code below, a dict (enum labels), a Python callable, or nothing; any value the spec does not cover,
 *     or that a built-in declines, goes to the column's complete converter (the spec's "slow" callable);
 *   - jsonb_text here handles documents without exponents, \u0000 or unpaired surrogates, nested at most
 *     256 deep, and declines the rest (DECLINE: no error set), which Python then handles.
 * So a missing case costs speed, never correctness. The tests compare both paths digest for digest
 * (tests/migrate/test_rowdigest.py), and this file's jsonb text against PostgreSQL's.
 *
 * md5 comes from OpenSSL's libcrypto, fetched once: EVP_md5() would fetch it again on every digest
 * (measured: 0.34 against 0.18 s per million two-integer rows).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <string.h>

/* Built-in actions (the class sourcehash.C mirrors these numbers). */
enum { C_DEC = 1, C_BOOL, C_EPOCH_MS, C_FLOAT8, C_TEXT, C_RAW, C_HEX, C_JSONB, C_JSONB_FLOAT, C_NUMERIC_FLOAT };
#define NULL_MARK "\x1e" /* canonical.NULL */
#define SEP_MARK "\x1f"  /* canonical.SEP */
#define MAX_JSON_DEPTH 256 /* deeper documents go to Python */

static EVP_MD *md5_md;

/* -- a growing byte buffer ---------------------------------------------------------------------- */
typedef struct { char *p; Py_ssize_t n, cap; } Buf;

static int grow(Buf *b, Py_ssize_t add) {
    if (b->n + add <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 512;
    while (cap < b->n + add) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (!p) { PyErr_NoMemory(); return -1; }
    b->p = p; b->cap = cap;
    return 0;
}

static int put(Buf *b, const char *s, Py_ssize_t n) {
    if (n == 0) return 0;  /* (memcpy into a buffer not yet allocated is undefined even for 0 bytes) */
    if (grow(b, n)) return -1;
    memcpy(b->p + b->n, s, n); b->n += n;
    return 0;
}

static const char HEX_DIGITS[] = "0123456789abcdef";

static int put_hex(Buf *b, const unsigned char *s, Py_ssize_t n) {
    if (grow(b, 2 * n)) return -1;
    char *o = b->p + b->n;
    for (Py_ssize_t i = 0; i < n; i++) { o[2 * i] = HEX_DIGITS[s[i] >> 4]; o[2 * i + 1] = HEX_DIGITS[s[i] & 15]; }
    b->n += 2 * n;
    return 0;
}

static int put_be64_hex(Buf *b, unsigned long long u) {  /* struct.pack('>q' or '>d').hex() */
    unsigned char be[8];
    for (int i = 7; i >= 0; i--) { be[i] = u & 0xff; u >>= 8; }
    return put_hex(b, be, 8);
}

static int put_dec(Buf *b, long long x) {  /* str() of a 64-bit integer (snprintf costs 3x as much) */
    char t[20], *o = t + sizeof t;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do { *--o = (char)('0' + u % 10); u /= 10; } while (u);
    if (x < 0) *--o = '-';
    return put(b, o, t + sizeof t - o);
}

static int put_str(Buf *b, PyObject *text) {  /* a str's UTF-8 (an unpaired surrogate raises, as .encode()) */
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "canonical text must be str, not %.50s", Py_TYPE(text)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(text, &n);
    return u ? put(b, u, n) : -1;
}

/* -- jsonb::text of a JSON document (PostgreSQL 15's jsonb output) ------------------------------ */
/* One member of an open object: its decoded key (an offset into J.keys), its `"key": value` text (an offset
 * into the output) and its place in the document (which keeps the sort stable). */
typedef struct { Py_ssize_t key, klen, text, tlen, place; const char *kp; } Member;
typedef struct {
    const unsigned char *p, *end;
    Buf keys, tmp;      /* decoded keys of the open objects; scratch for one object's sorted text */
    Member *m; Py_ssize_t mn, mcap;
    int depth;
} J;

#define DECLINE 0
#define DONE 1
#define FAILED (-1)

static void skip_ws(J *j) {  /* JSON's four whitespace characters, as PostgreSQL's lexer */
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int ends_token(J *j) {  /* what may follow a number or a literal */
    if (j->p == j->end) return 1;
    unsigned char c = *j->p;
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}';
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return 0;
    }
    *out = v;
    return 1;
}

static int put_utf8(Buf *b, unsigned cp) {
    char u[4]; int n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) { u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                             u[2] = (char)(0x80 | (cp & 0x3f)); n = 3; }
    else { u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
           u[2] = (char)(0x80 | (cp >> 6 & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4; }
    return put(b, u, n);
}

/* JSON's two-character escapes: the letter after the backslash and the byte it stands for, in the same
 * order. PostgreSQL writes each of these bytes with its escape; reading also takes "\/". */
static const char ESCAPE_LETTERS[] = "\"\\bfnrt";
static const char ESCAPED_BYTES[] = "\"\\\b\f\n\r\t";

/* The string at j->p (its opening quote), decoded into `out`. Declines \u0000, unpaired surrogates and
 * anything that is not JSON. */
static int decode_string(J *j, Buf *out) {
    const unsigned char *run = ++j->p;
    for (;;) {
        if (j->p >= j->end) return DECLINE;
        unsigned char c = *j->p;
        if (c == '"') {
            if (put(out, (const char *)run, j->p - run)) return FAILED;
            j->p++;
            return DONE;
        }
        if (c < 0x20) return DECLINE;  /* a raw control character: not JSON */
        if (c != '\\') { j->p++; continue; }
        if (put(out, (const char *)run, j->p - run)) return FAILED;
        if (++j->p >= j->end) return DECLINE;
        const char *letter = *j->p ? strchr(ESCAPE_LETTERS, *j->p) : NULL;
        if (letter || *j->p == '/') {
            if (put(out, letter ? &ESCAPED_BYTES[letter - ESCAPE_LETTERS] : "/", 1)) return FAILED;
            run = ++j->p;
            continue;
        }
        if (*j->p != 'u') return DECLINE;
        unsigned cp, low;
        if (j->end - j->p < 5 || !hex4(j->p + 1, &cp)) return DECLINE;
        j->p += 5;
        if (cp == 0 || (cp >= 0xdc00 && cp < 0xe000)) return DECLINE;  /* jsonb refuses them */
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !hex4(j->p + 2, &low)
                || low < 0xdc00 || low >= 0xe000)
                return DECLINE;
            j->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        if (put_utf8(out, cp)) return FAILED;
        run = j->p;
    }
}

/* PostgreSQL's escape_json() of decoded UTF-8 bytes, quotes included. */
static int put_escaped(Buf *b, const unsigned char *s, Py_ssize_t n) {
    if (grow(b, n + 2)) return FAILED;
    b->p[b->n++] = '"';
    const unsigned char *run = s, *end = s + n;
    for (; s < end; s++) {
        unsigned char c = *s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (put(b, (const char *)run, s - run)) return FAILED;
        const char *byte = memchr(ESCAPED_BYTES, c, sizeof ESCAPED_BYTES - 1);
        if (byte) {
            char esc[2] = {'\\', ESCAPE_LETTERS[byte - ESCAPED_BYTES]};
            if (put(b, esc, 2)) return FAILED;
        } else {
            char u[6] = {'\\', 'u', '0', '0', HEX_DIGITS[c >> 4], HEX_DIGITS[c & 15]};
            if (put(b, u, 6)) return FAILED;
        }
        run = s + 1;
    }
    if (put(b, (const char *)run, end - run)) return FAILED;
    return put(b, "\"", 1) ? FAILED : DONE;
}

static int string_value(J *j, Buf *out) {
    const unsigned char *q = j->p + 1;
    while (q < j->end && *q != '"' && *q != '\\' && *q >= 0x20) q++;
    if (q < j->end && *q == '"') {  /* nothing to decode or escape: the text as it is */
        if (put(out, (const char *)j->p, q + 1 - j->p)) return FAILED;
        j->p = q + 1;
        return DONE;
    }
    j->tmp.n = 0;  /* (tmp is free: an object uses it only after all of its values are done) */
    int rc = decode_string(j, &j->tmp);
    return rc == DONE ? put_escaped(out, (const unsigned char *)j->tmp.p, j->tmp.n) : rc;
}

/* A number without exponent is numeric's text as written, except that a zero loses its sign. */
static int number_value(J *j, Buf *out) {
    const unsigned char *start = j->p, *digits;
    int nonzero = 0;
    if (*j->p == '-') j->p++;
    digits = j->p;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return DECLINE;
    if (*j->p == '0') j->p++;
    else while (j->p < j->end && *j->p >= '0' && *j->p <= '9') nonzero |= *j->p++ != '0';
    if (j->p < j->end && *j->p == '.') {
        const unsigned char *fraction = ++j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') nonzero |= *j->p++ != '0';
        if (j->p == fraction) return DECLINE;
    }
    if (!ends_token(j)) return DECLINE;  /* an exponent (numeric writes it out: Python does), or not JSON */
    if (start != digits && !nonzero) start = digits;  /* -0, -0.00: numeric has no negative zero */
    return put(out, (const char *)start, j->p - start) ? FAILED : DONE;
}

static int literal_value(J *j, Buf *out) {
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        Py_ssize_t n = (Py_ssize_t)strlen(words[i]);
        if (j->end - j->p >= n && memcmp(j->p, words[i], n) == 0) {
            j->p += n;
            if (!ends_token(j)) return DECLINE;
            return put(out, words[i], n) ? FAILED : DONE;
        }
    }
    return DECLINE;
}

static int json_value(J *j, Buf *out);

static int array_value(J *j, Buf *out) {
    j->p++;
    if (put(out, "[", 1)) return FAILED;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') { j->p++; return put(out, "]", 1) ? FAILED : DONE; }
    for (;;) {
        int rc = json_value(j, out);
        if (rc != DONE) return rc;
        skip_ws(j);
        if (j->p >= j->end) return DECLINE;
        if (*j->p == ']') { j->p++; return put(out, "]", 1) ? FAILED : DONE; }
        if (*j->p != ',') return DECLINE;
        j->p++;
        if (put(out, ", ", 2)) return FAILED;
    }
}

static int key_cmp(const Member *a, const Member *b) {  /* jsonb's order: length, then bytes */
    if (a->klen != b->klen) return a->klen < b->klen ? -1 : 1;
    return memcmp(a->kp, b->kp, a->klen);
}

static int member_cmp(const void *x, const void *y) {  /* key_cmp, then document order: a stable sort */
    const Member *a = x, *b = y;
    int c = key_cmp(a, b);
    return c ? c : (a->place > b->place) - (a->place < b->place);
}

/* Members are written to `out` as `"key": value` in document order, then put in jsonb's order (a stable
 * sort, so of duplicate keys the last one is kept, as jsonb keeps it). */
static int object_value(J *j, Buf *out) {
    Py_ssize_t start = out->n, base = j->mn, keys_start = j->keys.n;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') { j->p++; return put(out, "{}", 2) ? FAILED : DONE; }
    for (;;) {
        skip_ws(j);
        if (j->p >= j->end || *j->p != '"') return DECLINE;
        Py_ssize_t key = j->keys.n;
        int rc = decode_string(j, &j->keys);
        if (rc != DONE) return rc;
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') return DECLINE;
        j->p++;
        if (j->mn == j->mcap) {
            Py_ssize_t cap = j->mcap ? 2 * j->mcap : 64;
            Member *m = PyMem_Realloc(j->m, cap * sizeof(Member));
            if (!m) { PyErr_NoMemory(); return FAILED; }
            j->m = m; j->mcap = cap;
        }
        Py_ssize_t at = j->mn++;  /* (an index: nested objects may move j->m) */
        j->m[at] = (Member){key, j->keys.n - key, out->n, 0, at - base, NULL};
        if (put_escaped(out, (const unsigned char *)j->keys.p + key, j->keys.n - key) != DONE
            || put(out, ": ", 2)) return FAILED;
        rc = json_value(j, out);
        if (rc != DONE) return rc;
        j->m[at].tlen = out->n - j->m[at].text;
        skip_ws(j);
        if (j->p >= j->end) return DECLINE;
        if (*j->p == '}') { j->p++; break; }
        if (*j->p != ',') return DECLINE;
        j->p++;
    }
    Member *m = j->m + base;
    Py_ssize_t n = j->mn - base;
    for (Py_ssize_t i = 0; i < n; i++) m[i].kp = j->keys.p + m[i].key;  /* (j->keys no longer moves) */
    if (n > 16)
        qsort(m, n, sizeof(Member), member_cmp);
    else
        for (Py_ssize_t i = 1; i < n; i++) {  /* most objects are small: an insertion sort, stable */
            Member x = m[i];
            Py_ssize_t k = i;
            for (; k > 0 && key_cmp(&m[k - 1], &x) > 0; k--) m[k] = m[k - 1];
            m[k] = x;
        }
    j->tmp.n = 0;
    if (put(&j->tmp, "{", 1)) return FAILED;
    int first = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + 1 < n && key_cmp(&m[i], &m[i + 1]) == 0) continue;  /* a duplicate: the last one wins */
        if ((!first && put(&j->tmp, ", ", 2)) || put(&j->tmp, out->p + m[i].text, m[i].tlen)) return FAILED;
        first = 0;
    }
    if (put(&j->tmp, "}", 1)) return FAILED;
    out->n = start;
    if (put(out, j->tmp.p, j->tmp.n)) return FAILED;
    j->mn = base;
    j->keys.n = keys_start;
    return DONE;
}

static int json_value(J *j, Buf *out) {
    skip_ws(j);
    if (j->p >= j->end) return DECLINE;
    unsigned char c = *j->p;
    if (c == '"') return string_value(j, out);
    if (c == '-' || (c >= '0' && c <= '9')) return number_value(j, out);
    if (c == '{' || c == '[') {
        if (++j->depth > MAX_JSON_DEPTH) return DECLINE;
        int rc = c == '{' ? object_value(j, out) : array_value(j, out);
        j->depth--;
        return rc;
    }
    return literal_value(j, out);
}

/* Append jsonb::text of `doc` to `out`: DONE, DECLINE (out unchanged, no error set) or FAILED. */
static int put_jsonb_text(Buf *out, PyObject *doc, J *j) {
    Py_ssize_t n, start = out->n;
    const char *u = PyUnicode_AsUTF8AndSize(doc, &n);
    if (!u) {  /* an unpaired surrogate: Python names the problem */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return FAILED;
        PyErr_Clear();
        return DECLINE;
    }
    j->p = (const unsigned char *)u; j->end = j->p + n;
    j->keys.n = 0; j->mn = 0; j->depth = 0;
    int rc = json_value(j, out);
    if (rc == DONE) { skip_ws(j); if (j->p != j->end) rc = DECLINE; }
    if (rc != DONE) out->n = start;
    return rc;
}

static void j_free(J *j) { PyMem_Free(j->keys.p); PyMem_Free(j->tmp.p); PyMem_Free(j->m); }

/* -- one column's spec and one value ------------------------------------------------------------- */
typedef struct {
    int nullable;    /* None is NULL_MARK (else None goes to slow, as the generated Python does) */
    int strip_guard; /* 1: a str holding NUL goes to slow; 2: also one holding \u (--strip-nul rewrites them) */
    PyObject *action[4]; /* per stored class: int, float, str, bytes */
    PyObject *slow;      /* the complete converter, then the canonical text */
} Spec;

/* Python's repr() of a finite double with neither exponent nor more than max_decimals decimals (-1: any), or
 * NULL (no error set) when it has them or is not finite. PyMem_Free() the result. */
static char *plain_repr(double d, int max_decimals) {
    char *r = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!r) return NULL;
    const char *dot = strchr(r, '.');
    if (strpbrk(r, "ein") || !dot || (max_decimals >= 0 && (int)strlen(dot + 1) > max_decimals)) {
        PyMem_Free(r);
        return NULL;
    }
    return r;
}

static int builtin(Buf *b, int code, long arg, PyObject *v, long long us_before_2000, J *j) {
    /* The float and bytes codes read the object's C struct: make sure a wrong spec is an error, not a crash. */
    int wants_float = code == C_FLOAT8 || code == C_JSONB_FLOAT || code == C_NUMERIC_FLOAT;
    if ((wants_float && !PyFloat_CheckExact(v)) || (code == C_HEX && !PyBytes_CheckExact(v))) {
        PyErr_Format(PyExc_TypeError, "action %d does not take a %.50s", code, Py_TYPE(v)->tp_name);
        return FAILED;
    }
    switch (code) {
    case C_DEC: {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) return FAILED;
        if (overflow) {
            PyObject *s = PyObject_Str(v);
            if (!s) return FAILED;
            int rc = put_str(b, s);
            Py_DECREF(s);
            return rc ? FAILED : DONE;
        }
        return put_dec(b, x) ? FAILED : DONE;
    }
    case C_BOOL: {
        int truth = PyObject_IsTrue(v);
        if (truth < 0) return FAILED;
        return put(b, truth ? "1" : "0", 1) ? FAILED : DONE;
    }
    case C_EPOCH_MS: {  /* epoch ms -> microseconds since 2000 as 8 big-endian bytes (timestamp_send) */
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow), us;
        if (x == -1 && PyErr_Occurred()) return FAILED;
        if (overflow || __builtin_mul_overflow(x, 1000LL, &us) || __builtin_sub_overflow(us, us_before_2000, &us))
            return DECLINE;
        return put_be64_hex(b, (unsigned long long)us) ? FAILED : DONE;
    }
    case C_FLOAT8: {
        double d = PyFloat_AS_DOUBLE(v);
        unsigned long long bits;
        if (d != d) return DECLINE;  /* NaN */
        memcpy(&bits, &d, 8);
        return put_be64_hex(b, bits) ? FAILED : DONE;
    }
    case C_TEXT: case C_RAW: {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(v, &n);
        if (!u) return FAILED;
        if (code == C_TEXT && (put_dec(b, n) || put(b, ":", 1))) return FAILED;
        return put(b, u, n) ? FAILED : DONE;
    }
    case C_HEX:
        return put_hex(b, (const unsigned char *)PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v)) ? FAILED : DONE;
    case C_JSONB:
        return put_jsonb_text(b, v, j);
    case C_JSONB_FLOAT: {  /* a Json number stored as REAL: the converter writes repr(), jsonb reads that */
        char *r = plain_repr(PyFloat_AS_DOUBLE(v), -1);
        if (!r) return PyErr_Occurred() ? FAILED : DECLINE;
        J number = {(const unsigned char *)r, (const unsigned char *)r + strlen(r)};
        int rc = number_value(&number, b);
        PyMem_Free(r);
        return rc;
    }
    case C_NUMERIC_FLOAT: {  /* sourcehash._numeric_of_float: a REAL decimal that needs no rounding to arg */
        double d = PyFloat_AS_DOUBLE(v);
        char *r = plain_repr(d, (int)arg);
        if (!r) return PyErr_Occurred() ? FAILED : DECLINE;
        size_t n = strlen(r);
        if (d == 0) { r[0] = '0'; n = 1; }  /* trim_scale(0.0) and of -0.0 */
        else { while (r[n - 1] == '0') n--; if (r[n - 1] == '.') n--; }
        int rc = put(b, r, (Py_ssize_t)n) ? FAILED : DONE;
        PyMem_Free(r);
        return rc;
    }
    }
    PyErr_Format(PyExc_ValueError, "unknown action %d", code);
    return FAILED;
}

/* action: None (slow), an int (a built-in), a (built-in, its int argument, next action) triple (the next
 * action when the built-in declines), a dict (str -> text), or a callable (its text; None or ValueError:
 * slow). */
static int apply(Buf *b, PyObject *action, PyObject *v, long long us_before_2000, J *j) {
    if (action == Py_None) return DECLINE;
    if (PyLong_CheckExact(action)) return builtin(b, (int)PyLong_AsLong(action), 0, v, us_before_2000, j);
    if (PyTuple_CheckExact(action) && PyTuple_GET_SIZE(action) == 3) {
        long arg = PyLong_AsLong(PyTuple_GET_ITEM(action, 1));
        if (arg == -1 && PyErr_Occurred()) return FAILED;
        int rc = builtin(b, (int)PyLong_AsLong(PyTuple_GET_ITEM(action, 0)), arg, v, us_before_2000, j);
        return rc == DECLINE ? apply(b, PyTuple_GET_ITEM(action, 2), v, us_before_2000, j) : rc;
    }
    if (PyDict_CheckExact(action)) {
        PyObject *text = PyDict_GetItemWithError(action, v);
        if (!text) return PyErr_Occurred() ? FAILED : DECLINE;
        return put_str(b, text) ? FAILED : DONE;
    }
    PyObject *text = PyObject_CallOneArg(action, v);
    if (!text) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) return FAILED;
        PyErr_Clear();
        return DECLINE;
    }
    int rc = text == Py_None ? DECLINE : put_str(b, text) ? FAILED : DONE;
    Py_DECREF(text);
    return rc;
}

static int strip_guard_passes(PyObject *v, int guard) {  /* 1 yes, 0 no, -1 error */
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(v, &n);
    if (!u) return -1;
    if (memchr(u, 0, n)) return 0;
    return guard < 2 || !memmem(u, n, "\\u", 2);
}

static int put_value(Buf *b, Spec *s, PyObject *v, long long us_before_2000, J *j) {
    if (v == Py_None && s->nullable) return put(b, NULL_MARK, 1) ? FAILED : DONE;
    int cls = PyLong_CheckExact(v) ? 0 : PyFloat_CheckExact(v) ? 1 : PyUnicode_CheckExact(v) ? 2
              : PyBytes_CheckExact(v) ? 3 : -1;
    int rc = DECLINE;
    if (cls == 2 && s->strip_guard) {
        int passes = strip_guard_passes(v, s->strip_guard);
        if (passes < 0) return FAILED;
        if (!passes) cls = -1;
    }
    if (cls >= 0) rc = apply(b, s->action[cls], v, us_before_2000, j);
    if (rc != DECLINE) return rc;
    PyObject *text = PyObject_CallOneArg(s->slow, v);  /* raises what the import would raise */
    if (!text) return FAILED;
    rc = put_str(b, text) ? FAILED : DONE;
    Py_DECREF(text);
    return rc;
}

/* -- the module's functions ---------------------------------------------------------------------- */
PyDoc_STRVAR(sum_rows_doc,
"sum_rows(rows, specs, us_before_2000) -> int\n\n"
"The sum modulo 2**64 of the first 64 bits (big-endian) of md5(canonical text) of each row in rows\n"
"(tuples of stored values); specs holds one (nullable, strip_guard, int, float, str, bytes, slow) tuple\n"
"per column (see sourcehash.c_specs).");

static PyObject *sum_rows(PyObject *self, PyObject *args) {
    PyObject *rows, *specs, *iter = NULL, *row = NULL;
    long long us_before_2000;
    if (!PyArg_ParseTuple(args, "OO!L", &rows, &PyTuple_Type, &specs, &us_before_2000)) return NULL;
    Py_ssize_t width = PyTuple_GET_SIZE(specs);
    Spec *spec = PyMem_Calloc(width ? width : 1, sizeof(Spec));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    Buf b = {0};
    J j = {0};
    unsigned long long total = 0;
    if (!spec || !ctx) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t i = 0; i < width; i++) {
        Spec *s = &spec[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(specs, i), "iiOOOOO", &s->nullable, &s->strip_guard, &s->action[0],
                              &s->action[1], &s->action[2], &s->action[3], &s->slow))
            goto fail;
    }
    if (!(iter = PyObject_GetIter(rows))) goto fail;
    while ((row = PyIter_Next(iter))) {
        if (!(PyTuple_Check(row) || PyList_Check(row)) || PySequence_Fast_GET_SIZE(row) != width) {
            PyErr_Format(PyExc_ValueError, "expected a row of %zd values", width);
            goto fail;
        }
        b.n = 0;
        for (Py_ssize_t i = 0; i < width; i++) {
            if (i && put(&b, SEP_MARK, 1)) goto fail;
            if (i >= PySequence_Fast_GET_SIZE(row)) {  /* a list that a converter shortened (never in practice) */
                PyErr_SetString(PyExc_ValueError, "a row changed while it was hashed");
                goto fail;
            }
            PyObject *v = Py_NewRef(PySequence_Fast_GET_ITEM(row, i));  /* held: a callable may change a list */
            int rc = put_value(&b, &spec[i], v, us_before_2000, &j);
            Py_DECREF(v);
            if (rc != DONE) goto fail;
        }
        Py_CLEAR(row);
        unsigned char digest[EVP_MAX_MD_SIZE];
        if (!EVP_DigestInit_ex(ctx, md5_md, NULL) || !EVP_DigestUpdate(ctx, b.p, b.n)
            || !EVP_DigestFinal_ex(ctx, digest, NULL)) {
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL's md5 failed");
            goto fail;
        }
        unsigned long long first64 = 0;
        for (int k = 0; k < 8; k++) first64 = first64 << 8 | digest[k];
        total += first64;  /* modulo 2**64, as the digest is */
    }
    if (PyErr_Occurred()) goto fail;
    Py_DECREF(iter); PyMem_Free(spec); EVP_MD_CTX_free(ctx); PyMem_Free(b.p); j_free(&j);
    return PyLong_FromUnsignedLongLong(total);
fail:
    Py_XDECREF(row); Py_XDECREF(iter); PyMem_Free(spec); EVP_MD_CTX_free(ctx); PyMem_Free(b.p); j_free(&j);
    return NULL;
}

PyDoc_STRVAR(jsonb_text_doc,
"jsonb_text(doc) -> str | None\n\n"
"PostgreSQL's jsonb::text of the JSON text doc, or None where this module leaves it to\n"
"canonical.jsonb_text (exponents, \\u0000, unpaired surrogates, invalid JSON, deep nesting).");

static PyObject *jsonb_text(PyObject *self, PyObject *doc) {
    if (!PyUnicode_Check(doc)) return PyErr_Format(PyExc_TypeError, "expected str, not %.50s", Py_TYPE(doc)->tp_name);
    Buf b = {0};
    J j = {0};
    int rc = put_jsonb_text(&b, doc, &j);
    PyObject *result = rc == FAILED ? NULL : rc == DECLINE ? Py_NewRef(Py_None)
                       : PyUnicode_DecodeUTF8(b.p ? b.p : "", b.n, "strict");
    PyMem_Free(b.p); j_free(&j);
    return result;
}

static PyMethodDef methods[] = {
    {"sum_rows", sum_rows, METH_VARARGS, sum_rows_doc},
    {"jsonb_text", jsonb_text, METH_O, jsonb_text_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "migrate._rowdigest",
                                    "Compiled row digests for the hashing helper (see migrate/_rowdigest.c).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__rowdigest(void) {
    if (!md5_md && !(md5_md = EVP_MD_fetch(NULL, "MD5", NULL))) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL offers no md5 here");
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "DEC", C_DEC) || PyModule_AddIntConstant(m, "BOOL", C_BOOL)
              || PyModule_AddIntConstant(m, "EPOCH_MS", C_EPOCH_MS) || PyModule_AddIntConstant(m, "FLOAT8", C_FLOAT8)
              || PyModule_AddIntConstant(m, "TEXT", C_TEXT) || PyModule_AddIntConstant(m, "RAW", C_RAW)
              || PyModule_AddIntConstant(m, "HEX", C_HEX) || PyModule_AddIntConstant(m, "JSONB", C_JSONB)
              || PyModule_AddIntConstant(m, "JSONB_FLOAT", C_JSONB_FLOAT)
              || PyModule_AddIntConstant(m, "NUMERIC_FLOAT", C_NUMERIC_FLOAT))) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
