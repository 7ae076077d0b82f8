/*
 * Tests of the durastream C API against the in-process server: every exported function,
 * the status codes and messages of the errors, and the ownership rules (run under valgrind
 * by bindings/c/test.sh, which fails on any leak or invalid access).
 *
 * Prints one line per check that fails, one line per test, and closes with
 * "N passed, N failed" (tests, not checks). Exits non-zero when any check failed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durastream.h"

static int checks_failed; /* in the current test */
static int tests_passed;
static int tests_failed;
static ds_server *server;
static int stream_counter;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
            checks_failed++;                                                               \
        }                                                                                  \
    } while (0)

/* A call expected to succeed; on failure prints the last error. */
#define CHECK_OK(call)                                                                     \
    do {                                                                                   \
        ds_status st_ = (call);                                                            \
        if (st_ != DS_OK) {                                                                \
            fprintf(stderr, "  FAIL %s:%d: %s returned %s: %s\n", __FILE__, __LINE__,      \
                    #call, ds_status_name(st_), ds_last_error_message());                  \
            checks_failed++;                                                               \
        }                                                                                  \
    } while (0)

/* A call expected to fail with `code`; also checks that the last error agrees. */
#define CHECK_ERR(call, code)                                                              \
    do {                                                                                   \
        ds_status st_ = (call);                                                            \
        if (st_ != (code)) {                                                               \
            fprintf(stderr, "  FAIL %s:%d: %s returned %s, expected %s (%s)\n", __FILE__,  \
                    __LINE__, #call, ds_status_name(st_), ds_status_name(code),            \
                    ds_last_error_message());                                              \
            checks_failed++;                                                               \
        } else {                                                                           \
            CHECK(ds_last_error_code() == (code));                                         \
            CHECK(strlen(ds_last_error_message()) > 0);                                    \
        }                                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                             \
            fprintf(stderr, "  FAIL %s:%d: %s == %s (\"%s\" vs \"%s\")\n", __FILE__,       \
                    __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");             \
            checks_failed++;                                                               \
        }                                                                                  \
    } while (0)

static void run(const char *name, void (*test)(void)) {
    checks_failed = 0;
    test();
    if (checks_failed == 0) {
        tests_passed++;
        printf("ok   %s\n", name);
    } else {
        tests_failed++;
        printf("FAIL %s (%d checks)\n", name, checks_failed);
    }
    fflush(stdout);
}

/* A URL for a fresh stream name on the test server. Caller frees. */
static char *new_stream_url(const char *prefix) {
    const char *base = ds_server_url(server);
    size_t n = strlen(base) + strlen(prefix) + 64;
    char *url = malloc(n);
    snprintf(url, n, "%s/v1/stream/%s-%d-%d", base, prefix, (int)getpid(), ++stream_counter);
    return url;
}

/* A stream handle on a fresh stream name (not created). */
static ds_stream *new_stream(ds_client *client, const char *prefix) {
    char *url = new_stream_url(prefix);
    ds_stream *stream = NULL;
    CHECK_OK(ds_stream_new(client, url, &stream));
    CHECK(stream != NULL);
    free(url);
    return stream;
}

static ds_client *new_client(void) {
    ds_client *client = NULL;
    CHECK_OK(ds_client_new(&client));
    CHECK(client != NULL);
    return client;
}

/* Growable byte buffer that read callbacks append to. */
typedef struct {
    char *data;
    size_t len;
    int chunks;
    int stop_after; /* stop after this many chunks; 0 = never */
    bool saw_up_to_date;
    bool saw_closed;
    char last_offset[128];
} collected;

static void collect(collected *c, const ds_chunk *chunk) {
    c->data = realloc(c->data, c->len + chunk->len + 1);
    if (chunk->len > 0) memcpy(c->data + c->len, chunk->data, chunk->len);
    c->len += chunk->len;
    c->data[c->len] = '\0';
    c->chunks++;
    c->saw_up_to_date |= chunk->up_to_date;
    c->saw_closed |= chunk->closed;
    snprintf(c->last_offset, sizeof c->last_offset, "%s", chunk->next_offset);
}

static bool on_chunk(void *user_data, const ds_chunk *chunk) {
    collected *c = user_data;
    CHECK(chunk->next_offset != NULL);
    CHECK(chunk->len == 0 || chunk->data != NULL);
    collect(c, chunk);
    return c->stop_after == 0 || c->chunks < c->stop_after;
}

/* Reads the whole stream (catch-up) through the iterator. */
static collected read_all_iter(const ds_stream *stream, const char *offset, int32_t live) {
    collected c = {0};
    ds_reader *reader = NULL;
    CHECK_OK(ds_reader_open(stream, offset, live, &reader));
    CHECK(reader != NULL);
    for (int i = 0; i < 1000; i++) {
        ds_chunk chunk;
        bool has = true;
        ds_status st = ds_reader_next(reader, &chunk, &has);
        CHECK(st == DS_OK);
        if (st != DS_OK || !has) break;
        collect(&c, &chunk);
    }
    ds_reader_free(reader);
    return c;
}

/* Removes ASCII whitespace in place (servers may format JSON arrays across lines). */
static char *strip_ws(char *s) {
    char *w = s;
    for (char *r = s; r && *r; r++) {
        if (*r != ' ' && *r != '\n' && *r != '\r' && *r != '\t') *w++ = *r;
    }
    if (w) *w = '\0';
    return s;
}

static void append_str(const ds_stream *stream, const char *s, char **out_offset) {
    CHECK_OK(ds_stream_append(stream, (const uint8_t *)s, strlen(s), out_offset));
}

/* ---------------------------------------------------------------------------------------- */

static void test_version_and_status_names(void) {
    CHECK_STR(ds_version(), "0.1.0");
    CHECK_STR(ds_status_name(DS_OK), "OK");
    CHECK_STR(ds_status_name(DS_NOT_FOUND), "NOT_FOUND");
    CHECK_STR(ds_status_name(DS_GONE), "GONE");
    CHECK_STR(ds_status_name(DS_CONFLICT), "CONFLICT");
    CHECK_STR(ds_status_name(DS_STREAM_CLOSED), "STREAM_CLOSED");
    CHECK_STR(ds_status_name(DS_SEQUENCE_CONFLICT), "SEQUENCE_CONFLICT");
    CHECK_STR(ds_status_name(DS_SEQUENCE_GAP), "SEQUENCE_GAP");
    CHECK_STR(ds_status_name(DS_STALE_EPOCH), "STALE_EPOCH");
    CHECK_STR(ds_status_name(DS_BAD_REQUEST), "BAD_REQUEST");
    CHECK_STR(ds_status_name(DS_INVALID_OFFSET), "INVALID_OFFSET");
    CHECK_STR(ds_status_name(DS_UNAUTHORIZED), "UNAUTHORIZED");
    CHECK_STR(ds_status_name(DS_UNEXPECTED_STATUS), "UNEXPECTED_STATUS");
    CHECK_STR(ds_status_name(DS_RETRY_EXHAUSTED), "RETRY_EXHAUSTED");
    CHECK_STR(ds_status_name(DS_PARSE_ERROR), "PARSE_ERROR");
    CHECK_STR(ds_status_name(DS_NETWORK_ERROR), "NETWORK_ERROR");
    CHECK_STR(ds_status_name(DS_TIMEOUT), "TIMEOUT");
    CHECK_STR(ds_status_name(DS_INVALID_ARGUMENT), "INVALID_ARGUMENT");
    CHECK_STR(ds_status_name(DS_BUFFER_FULL), "BUFFER_FULL");
    CHECK_STR(ds_status_name(DS_PRODUCER_CLOSED), "PRODUCER_CLOSED");
    CHECK_STR(ds_status_name(DS_IO_ERROR), "IO_ERROR");
    CHECK_STR(ds_status_name(DS_UNKNOWN), "UNKNOWN");
    CHECK_STR(ds_status_name(DS_PANIC), "PANIC");
    CHECK_STR(ds_status_name(12345), "UNKNOWN");
    /* The numeric values are part of the ABI. */
    CHECK(DS_OK == 0 && DS_NOT_FOUND == 1 && DS_PRODUCER_CLOSED == 18);
    CHECK(DS_IO_ERROR == 100 && DS_UNKNOWN == 101 && DS_PANIC == 102);
    CHECK(DS_LIVE_OFF == 0 && DS_LIVE_LONG_POLL == 1 && DS_LIVE_SSE == 2 && DS_LIVE_AUTO == 3);
}

static void test_server_start_stop(void) {
    ds_server *mem = NULL;
    CHECK_OK(ds_server_start(NULL, &mem));
    CHECK(mem != NULL);
    const char *url = ds_server_url(mem);
    CHECK(url != NULL && strncmp(url, "http://127.0.0.1:", 17) == 0);
    CHECK_OK(ds_server_stop(mem));

    /* File-backed: data survives a restart on the same directory. */
    char dir[] = "/tmp/durastream-c-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char data_dir[sizeof dir + 8];
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    ds_server *file = NULL;
    CHECK_OK(ds_server_start(data_dir, &file));
    ds_client *client = new_client();
    char stream_url[256];
    snprintf(stream_url, sizeof stream_url, "%s/v1/stream/durable", ds_server_url(file));
    ds_stream *stream = NULL;
    CHECK_OK(ds_stream_new(client, stream_url, &stream));
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));
    append_str(stream, "kept", NULL);
    ds_stream_free(stream);
    CHECK_OK(ds_server_stop(file));

    file = NULL;
    CHECK_OK(ds_server_start(data_dir, &file));
    snprintf(stream_url, sizeof stream_url, "%s/v1/stream/durable", ds_server_url(file));
    CHECK_OK(ds_stream_new(client, stream_url, &stream));
    collected c = read_all_iter(stream, NULL, DS_LIVE_OFF);
    CHECK_STR(c.data, "kept");
    free(c.data);
    ds_stream_free(stream);
    CHECK_OK(ds_server_stop(file));
    ds_client_free(client);

    /* A data directory that is a regular file cannot be opened. */
    char not_a_dir[sizeof dir + 8];
    snprintf(not_a_dir, sizeof not_a_dir, "%s/file", dir);
    FILE *f = fopen(not_a_dir, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    ds_server *bad = (ds_server *)1;
    CHECK_ERR(ds_server_start(not_a_dir, &bad), DS_IO_ERROR);
    CHECK(bad == NULL);
    CHECK(ds_last_error_http_status() == 0);
    CHECK(!ds_last_error_retryable());

    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);

    /* NULL handling. */
    CHECK_OK(ds_server_stop(NULL));
    CHECK(ds_server_url(NULL) == NULL);
    CHECK_ERR(ds_server_start(NULL, NULL), DS_INVALID_ARGUMENT);
}

static void test_create_append_head(void) {
    ds_client *client = new_client();
    char *url = new_stream_url("create");
    ds_stream *stream = NULL;
    CHECK_OK(ds_stream_new(client, url, &stream));

    bool created = false;
    CHECK_OK(ds_stream_create(stream, "text/plain", &created));
    CHECK(created);
    CHECK(ds_last_error_code() == DS_OK);
    CHECK_STR(ds_last_error_message(), "");
    CHECK_OK(ds_stream_create(stream, "text/plain", &created));
    CHECK(!created); /* identical: confirmed, not created */
    CHECK_ERR(ds_stream_create(stream, "application/json", &created), DS_CONFLICT);
    CHECK(ds_last_error_http_status() == 409);

    char *first = NULL, *second = NULL;
    append_str(stream, "hello ", &first);
    append_str(stream, "world", &second);
    CHECK(first != NULL && second != NULL);
    CHECK(first && second && strcmp(first, second) != 0);
    /* An empty append is refused by the server. */
    CHECK_ERR(ds_stream_append(stream, NULL, 0, NULL), DS_BAD_REQUEST);
    CHECK(ds_last_error_http_status() == 400);

    ds_stream_info info;
    CHECK_OK(ds_stream_head(stream, &info));
    CHECK_STR(info.content_type, "text/plain");
    CHECK_STR(info.next_offset, second);
    CHECK(info.ttl_seconds == -1);
    CHECK(info.expires_at == NULL);
    CHECK(!info.closed);
    ds_stream_info_clear(&info);
    CHECK(info.content_type == NULL && info.next_offset == NULL && info.ttl_seconds == -1);
    ds_stream_info_clear(&info); /* twice is harmless */
    ds_stream_info_clear(NULL);

    /* A fresh handle learns the content type from the server (one HEAD) to append. */
    ds_stream *fresh = NULL;
    CHECK_OK(ds_stream_new(client, url, &fresh));
    append_str(fresh, "!", NULL);
    collected c = read_all_iter(fresh, NULL, DS_LIVE_OFF);
    CHECK_STR(c.data, "hello world!");
    free(c.data);
    ds_stream_free(fresh);
    free(url);

    ds_string_free(first);
    ds_string_free(second);
    ds_string_free(NULL);
    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_client_freed_first(void) {
    /* A stream handle keeps what it needs of its client. */
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "client-freed");
    ds_client_free(client);
    CHECK_OK(ds_stream_create(stream, "application/octet-stream", NULL));
    const uint8_t bytes[] = {0, 1, 2, 255};
    CHECK_OK(ds_stream_append(stream, bytes, sizeof bytes, NULL));
    collected c = read_all_iter(stream, NULL, DS_LIVE_OFF);
    CHECK(c.len == sizeof bytes && memcmp(c.data, bytes, sizeof bytes) == 0);
    free(c.data);
    ds_stream_free(stream);
    ds_client_free(NULL);
    ds_stream_free(NULL);
}

static void test_read_callback(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "read-cb");
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));
    char *after_first = NULL;
    append_str(stream, "hello ", &after_first);
    append_str(stream, "world", NULL);

    collected all = {0};
    CHECK_OK(ds_stream_read(stream, NULL, DS_LIVE_OFF, on_chunk, &all));
    CHECK_STR(all.data, "hello world");
    CHECK(all.saw_up_to_date);
    CHECK(!all.saw_closed);
    free(all.data);

    /* From an offset the server returned: only what follows it. */
    collected tail = {0};
    CHECK_OK(ds_stream_read(stream, after_first, DS_LIVE_OFF, on_chunk, &tail));
    CHECK_STR(tail.data, "world");
    free(tail.data);

    /* "-1" is the beginning; "now" is the tail (nothing to catch up). */
    collected beginning = {0};
    CHECK_OK(ds_stream_read(stream, "-1", DS_LIVE_OFF, on_chunk, &beginning));
    CHECK_STR(beginning.data, "hello world");
    free(beginning.data);
    collected now = {0};
    CHECK_OK(ds_stream_read(stream, "now", DS_LIVE_OFF, on_chunk, &now));
    CHECK(now.len == 0);
    free(now.data);

    /* The callback stops a live read: without the stop, long-poll would wait for data. */
    collected stopped = {0};
    stopped.stop_after = 1;
    CHECK_OK(ds_stream_read(stream, NULL, DS_LIVE_LONG_POLL, on_chunk, &stopped));
    CHECK(stopped.chunks == 1);
    CHECK_STR(stopped.data, "hello world");
    free(stopped.data);

    /* Live modes end at the close of the stream. */
    char *final_offset = NULL;
    CHECK_OK(ds_stream_close(stream, &final_offset));
    int32_t modes[] = {DS_LIVE_LONG_POLL, DS_LIVE_SSE, DS_LIVE_AUTO};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        collected live = {0};
        CHECK_OK(ds_stream_read(stream, NULL, modes[i], on_chunk, &live));
        CHECK_STR(live.data, "hello world");
        CHECK(live.saw_closed);
        CHECK_STR(live.last_offset, final_offset);
        free(live.data);
    }

    ds_string_free(final_offset);
    ds_string_free(after_first);
    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_reader_iterator(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "read-iter");
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));
    append_str(stream, "one ", NULL);
    append_str(stream, "two", NULL);

    collected c = read_all_iter(stream, NULL, DS_LIVE_OFF);
    CHECK_STR(c.data, "one two");
    CHECK(c.saw_up_to_date);
    free(c.data);

    /* After the end, next keeps reporting no chunk. */
    ds_reader *reader = NULL;
    CHECK_OK(ds_reader_open(stream, NULL, DS_LIVE_OFF, &reader));
    ds_chunk chunk;
    bool has = false;
    CHECK_OK(ds_reader_next(reader, &chunk, &has));
    CHECK(has);
    /* The chunk's memory stays valid until the next call. */
    CHECK(chunk.len == 7 && memcmp(chunk.data, "one two", 7) == 0);
    CHECK(chunk.up_to_date);
    CHECK(chunk.next_offset != NULL && strlen(chunk.next_offset) > 0);
    int guard = 0;
    do {
        CHECK_OK(ds_reader_next(reader, &chunk, &has));
    } while (has && ++guard < 100);
    CHECK(!has);
    CHECK_OK(ds_reader_next(reader, &chunk, &has));
    CHECK(!has);
    ds_reader_free(reader);

    /* Freeing a reader with an unconsumed chunk releases it. */
    reader = NULL;
    CHECK_OK(ds_reader_open(stream, NULL, DS_LIVE_OFF, &reader));
    CHECK_OK(ds_reader_next(reader, &chunk, &has));
    CHECK(has);
    ds_reader_free(reader);
    ds_reader_free(NULL);

    /* A live iterator ends with the closed chunk. */
    append_str(stream, " three", NULL);
    CHECK_OK(ds_stream_close(stream, NULL));
    collected live = read_all_iter(stream, NULL, DS_LIVE_LONG_POLL);
    CHECK_STR(live.data, "one two three");
    CHECK(live.saw_closed);
    free(live.data);

    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_close(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "close");
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));
    char *tail = NULL;
    append_str(stream, "last words", &tail);

    char *final_offset = (char *)1;
    CHECK_OK(ds_stream_close(stream, &final_offset));
    CHECK_STR(final_offset, tail);
    /* Idempotent. */
    char *again = NULL;
    CHECK_OK(ds_stream_close(stream, &again));
    CHECK_STR(again, final_offset);

    ds_stream_info info;
    CHECK_OK(ds_stream_head(stream, &info));
    CHECK(info.closed);
    CHECK_STR(info.next_offset, final_offset);
    ds_stream_info_clear(&info);

    char *offset = (char *)1;
    CHECK_ERR(ds_stream_append(stream, (const uint8_t *)"more", 4, &offset), DS_STREAM_CLOSED);
    CHECK(offset == NULL);
    CHECK(ds_last_error_http_status() == 409);
    CHECK(!ds_last_error_retryable());

    ds_string_free(tail);
    ds_string_free(final_offset);
    ds_string_free(again);
    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_delete_and_not_found(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "delete");
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));
    append_str(stream, "doomed", NULL);
    CHECK_OK(ds_stream_delete(stream));

    ds_stream_info info;
    info.next_offset = (char *)1;
    CHECK_ERR(ds_stream_head(stream, &info), DS_NOT_FOUND);
    CHECK(info.next_offset == NULL && info.content_type == NULL);
    ds_stream_info_clear(&info);
    CHECK(ds_last_error_http_status() == 404);
    CHECK(strstr(ds_last_error_message(), "not found") != NULL);

    CHECK_ERR(ds_stream_delete(stream), DS_NOT_FOUND);
    CHECK_ERR(ds_stream_append(stream, (const uint8_t *)"x", 1, NULL), DS_NOT_FOUND);
    CHECK_ERR(ds_stream_close(stream, NULL), DS_NOT_FOUND);

    collected c = {0};
    CHECK_ERR(ds_stream_read(stream, NULL, DS_LIVE_OFF, on_chunk, &c), DS_NOT_FOUND);
    CHECK(c.chunks == 0);
    free(c.data);

    ds_reader *reader = NULL;
    CHECK_OK(ds_reader_open(stream, NULL, DS_LIVE_OFF, &reader));
    ds_chunk chunk;
    bool has = true;
    CHECK_ERR(ds_reader_next(reader, &chunk, &has), DS_NOT_FOUND);
    CHECK(!has);
    ds_reader_free(reader);

    /* A success clears the last error. */
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));
    CHECK(ds_last_error_code() == DS_OK);
    CHECK(ds_last_error_http_status() == 0);
    CHECK_STR(ds_last_error_message(), "");

    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_request_errors(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "errors");
    CHECK_OK(ds_stream_create(stream, "application/json", NULL));

    /* The server refuses a body that is not JSON on a JSON stream. */
    CHECK_ERR(ds_stream_append(stream, (const uint8_t *)"{not json", 9, NULL), DS_BAD_REQUEST);
    CHECK(ds_last_error_http_status() == 400);
    CHECK_OK(ds_stream_append(stream, (const uint8_t *)"{\"n\":1}", 7, NULL));

    /* An offset the server never returned. */
    collected c = {0};
    CHECK_ERR(ds_stream_read(stream, "garbage-offset", DS_LIVE_OFF, on_chunk, &c),
              DS_INVALID_OFFSET);
    CHECK(ds_last_error_http_status() == 400);
    free(c.data);

    /* JSON streams deliver a JSON array of the messages. */
    collected json = read_all_iter(stream, NULL, DS_LIVE_OFF);
    CHECK_STR(strip_ws(json.data), "[{\"n\":1}]");
    free(json.data);

    /* Nothing listens on a stopped server's port: a network error, retryable. */
    ds_server *gone = NULL;
    CHECK_OK(ds_server_start(NULL, &gone));
    char url[256];
    snprintf(url, sizeof url, "%s/v1/stream/nobody", ds_server_url(gone));
    CHECK_OK(ds_server_stop(gone));
    ds_client *no_retry = NULL;
    CHECK_OK(ds_client_new_with_retries(0, &no_retry));
    ds_stream *unreachable = NULL;
    CHECK_OK(ds_stream_new(no_retry, url, &unreachable));
    CHECK_ERR(ds_stream_create(unreachable, "text/plain", NULL), DS_NETWORK_ERROR);
    CHECK(ds_last_error_retryable());
    CHECK(ds_last_error_http_status() == 0);
    ds_stream_free(unreachable);
    ds_client_free(no_retry);

    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_invalid_arguments(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "args");
    CHECK_OK(ds_stream_create(stream, NULL, NULL));

    ds_stream *out = (ds_stream *)1;
    CHECK_ERR(ds_stream_new(client, NULL, &out), DS_INVALID_ARGUMENT);
    CHECK(out == NULL);
    CHECK(strstr(ds_last_error_message(), "url") != NULL);
    CHECK_ERR(ds_stream_new(client, "not a url", &out), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_new(client, "ftp://example.com/s", &out), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_new(NULL, "http://127.0.0.1:1/s", &out), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_new(client, "http://127.0.0.1:1/s", NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_client_new(NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_client_new_with_retries(3, NULL), DS_INVALID_ARGUMENT);

    const char bad_utf8[] = {'t', 'e', 'x', 't', '/', (char)0xff, 0};
    CHECK_ERR(ds_stream_create(stream, bad_utf8, NULL), DS_INVALID_ARGUMENT);
    CHECK(strstr(ds_last_error_message(), "UTF-8") != NULL);
    CHECK_ERR(ds_stream_create(NULL, "text/plain", NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_append(stream, NULL, 5, NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_append(NULL, (const uint8_t *)"x", 1, NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_head(stream, NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_head(NULL, &(ds_stream_info){0}), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_close(NULL, NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_delete(NULL), DS_INVALID_ARGUMENT);

    collected c = {0};
    CHECK_ERR(ds_stream_read(stream, NULL, DS_LIVE_OFF, NULL, NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_stream_read(stream, NULL, 42, on_chunk, &c), DS_INVALID_ARGUMENT);
    CHECK(strstr(ds_last_error_message(), "live") != NULL);
    CHECK_ERR(ds_stream_read(NULL, NULL, DS_LIVE_OFF, on_chunk, &c), DS_INVALID_ARGUMENT);
    CHECK(c.chunks == 0);

    ds_reader *reader = (ds_reader *)1;
    CHECK_ERR(ds_reader_open(stream, NULL, -1, &reader), DS_INVALID_ARGUMENT);
    CHECK(reader == NULL);
    CHECK_ERR(ds_reader_open(stream, NULL, DS_LIVE_OFF, NULL), DS_INVALID_ARGUMENT);
    CHECK_OK(ds_reader_open(stream, NULL, DS_LIVE_OFF, &reader));
    ds_chunk chunk;
    bool has;
    CHECK_ERR(ds_reader_next(reader, NULL, &has), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_reader_next(reader, &chunk, NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_reader_next(NULL, &chunk, &has), DS_INVALID_ARGUMENT);
    ds_reader_free(reader);

    ds_producer *producer = (ds_producer *)1;
    CHECK_ERR(ds_producer_new(stream, "", 0, false, &producer), DS_INVALID_ARGUMENT);
    CHECK(producer == NULL);
    CHECK_ERR(ds_producer_new(stream, NULL, 0, false, &producer), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_producer_new(NULL, "p", 0, false, &producer), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_producer_new(stream, "p", 0, false, NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_producer_new(stream, "p", (uint64_t)1 << 60, false, &producer),
              DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_producer_append(NULL, (const uint8_t *)"x", 1), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_producer_flush(NULL), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_producer_close(NULL, NULL, 0, NULL), DS_INVALID_ARGUMENT);
    ds_producer_free(NULL);

    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_producer(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "producer");
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));

    ds_producer *producer = NULL;
    CHECK_OK(ds_producer_new(stream, "writer-1", 0, false, &producer));
    CHECK(producer != NULL);
    const char *items[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(ds_producer_append(producer, (const uint8_t *)items[i], 1));
    }
    CHECK_OK(ds_producer_append(producer, NULL, 0));
    CHECK_OK(ds_producer_flush(producer));
    collected c = read_all_iter(stream, NULL, DS_LIVE_OFF);
    CHECK_STR(c.data, "abc");
    free(c.data);

    /* Many small appends batch up; flush waits for all of them. */
    for (int i = 0; i < 200; i++) {
        CHECK_OK(ds_producer_append(producer, (const uint8_t *)"x", 1));
    }
    CHECK_OK(ds_producer_flush(producer));
    ds_stream_info info;
    CHECK_OK(ds_stream_head(stream, &info));
    CHECK(!info.closed);
    ds_stream_info_clear(&info);

    char *final_offset = NULL;
    CHECK_OK(ds_producer_close(producer, (const uint8_t *)"!", 1, &final_offset));
    CHECK(final_offset != NULL);
    /* Closing again returns the same result. */
    char *again = NULL;
    CHECK_OK(ds_producer_close(producer, NULL, 0, &again));
    CHECK_STR(again, final_offset);
    CHECK_ERR(ds_producer_append(producer, (const uint8_t *)"late", 4), DS_PRODUCER_CLOSED);

    collected all = read_all_iter(stream, NULL, DS_LIVE_OFF);
    CHECK(all.len == 3 + 200 + 1);
    CHECK(all.data && strncmp(all.data, "abcx", 4) == 0 && all.data[all.len - 1] == '!');
    CHECK_STR(all.last_offset, final_offset);
    free(all.data);
    CHECK_OK(ds_stream_head(stream, &info));
    CHECK(info.closed);
    ds_stream_info_clear(&info);

    ds_string_free(final_offset);
    ds_string_free(again);
    ds_producer_free(producer);
    ds_stream_free(stream);
    ds_client_free(client);
}

static void test_producer_errors(void) {
    ds_client *client = new_client();

    /* A newer epoch fences the old producer: its next flush reports STALE_EPOCH. */
    ds_stream *stream = new_stream(client, "producer-epoch");
    CHECK_OK(ds_stream_create(stream, "text/plain", NULL));
    ds_producer *newer = NULL, *older = NULL;
    CHECK_OK(ds_producer_new(stream, "shared-id", 1, false, &newer));
    CHECK_OK(ds_producer_append(newer, (const uint8_t *)"new", 3));
    CHECK_OK(ds_producer_flush(newer));
    CHECK_OK(ds_producer_new(stream, "shared-id", 0, false, &older));
    CHECK_OK(ds_producer_append(older, (const uint8_t *)"old", 3));
    CHECK_ERR(ds_producer_flush(older), DS_STALE_EPOCH);
    CHECK(ds_last_error_http_status() == 403);
    /* The fatal error sticks: later appends report it too. */
    CHECK_ERR(ds_producer_append(older, (const uint8_t *)"more", 4), DS_STALE_EPOCH);
    ds_producer_free(older);

    /* With auto-claim the old producer takes the id over instead. */
    ds_producer *claimer = NULL;
    CHECK_OK(ds_producer_new(stream, "shared-id", 0, true, &claimer));
    CHECK_OK(ds_producer_append(claimer, (const uint8_t *)"claimed", 7));
    CHECK_OK(ds_producer_flush(claimer));
    ds_producer_free(claimer);
    collected c = read_all_iter(stream, NULL, DS_LIVE_OFF);
    CHECK_STR(c.data, "newclaimed");
    free(c.data);

    ds_producer_free(newer);
    ds_stream_free(stream);

    /* Data queued but not flushed is still sent after ds_producer_free (best effort). */
    ds_stream *orphan = new_stream(client, "producer-orphan");
    CHECK_OK(ds_stream_create(orphan, "text/plain", NULL));
    ds_producer *dropped = NULL;
    CHECK_OK(ds_producer_new(orphan, "dropped", 0, false, &dropped));
    CHECK_OK(ds_producer_append(dropped, (const uint8_t *)"sent anyway", 11));
    ds_producer_free(dropped);
    collected o = {0};
    for (int i = 0; i < 200 && o.len == 0; i++) { /* up to 10 s */
        free(o.data);
        usleep(50 * 1000);
        o = read_all_iter(orphan, NULL, DS_LIVE_OFF);
    }
    CHECK_STR(o.data, "sent anyway");
    free(o.data);
    ds_stream_free(orphan);

    /* On a JSON stream every item must be one JSON value. */
    ds_stream *json = new_stream(client, "producer-json");
    CHECK_OK(ds_stream_create(json, "application/json", NULL));
    ds_producer *producer = NULL;
    CHECK_OK(ds_producer_new(json, "json-writer", 0, false, &producer));
    CHECK_ERR(ds_producer_append(producer, (const uint8_t *)"{oops", 5), DS_PARSE_ERROR);
    CHECK_OK(ds_producer_append(producer, (const uint8_t *)"{\"a\":1}", 7));
    CHECK_OK(ds_producer_append(producer, (const uint8_t *)"[2,3]", 5));
    CHECK_OK(ds_producer_flush(producer));
    collected j = read_all_iter(json, NULL, DS_LIVE_OFF);
    CHECK_STR(strip_ws(j.data), "[{\"a\":1},[2,3]]");
    free(j.data);

    /* Appending to a stream closed by someone else is fatal for the producer. */
    CHECK_OK(ds_stream_close(json, NULL));
    CHECK_OK(ds_producer_append(producer, (const uint8_t *)"4", 1));
    CHECK_ERR(ds_producer_flush(producer), DS_STREAM_CLOSED);
    ds_producer_free(producer);

    /* A producer on a stream that does not exist. */
    ds_stream *missing = new_stream(client, "producer-missing");
    CHECK_OK(ds_producer_new(missing, "p", 0, false, &producer));
    CHECK_OK(ds_producer_append(producer, (const uint8_t *)"x", 1));
    CHECK_ERR(ds_producer_flush(producer), DS_NOT_FOUND);
    ds_producer_free(producer);
    ds_stream_free(missing);

    ds_stream_free(json);
    ds_client_free(client);
}

/* The last error belongs to the thread that made the call. */
static void *fail_on_other_thread(void *arg) {
    (void)arg;
    ds_stream *stream = NULL;
    ds_status st = ds_stream_new(NULL, "http://127.0.0.1:1/x", &stream);
    bool ok = st == DS_INVALID_ARGUMENT && ds_last_error_code() == DS_INVALID_ARGUMENT;
    return ok ? (void *)1 : NULL;
}

static void test_last_error_is_per_thread(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "threads");
    CHECK_ERR(ds_stream_head(stream, &(ds_stream_info){0}), DS_NOT_FOUND);
    pthread_t t;
    void *result = NULL;
    CHECK(pthread_create(&t, NULL, fail_on_other_thread, NULL) == 0);
    CHECK(pthread_join(t, &result) == 0);
    CHECK(result == (void *)1);
    CHECK(ds_last_error_code() == DS_NOT_FOUND);
    CHECK(ds_last_error_http_status() == 404);
    ds_stream_free(stream);
    ds_client_free(client);
}

/* A callback may call back into the library (it runs outside the library's runtime). */
static bool append_from_callback(void *user_data, const ds_chunk *chunk) {
    const ds_stream *target = user_data;
    ds_status st = ds_stream_append(target, chunk->data, chunk->len, NULL);
    CHECK(st == DS_OK);
    return st == DS_OK;
}

static void test_callback_reentry(void) {
    ds_client *client = new_client();
    ds_stream *source = new_stream(client, "reentry-src");
    ds_stream *copy = new_stream(client, "reentry-copy");
    CHECK_OK(ds_stream_create(source, "text/plain", NULL));
    CHECK_OK(ds_stream_create(copy, "text/plain", NULL));
    append_str(source, "copied", NULL);
    CHECK_OK(ds_stream_read(source, NULL, DS_LIVE_OFF, append_from_callback, copy));
    collected c = read_all_iter(copy, NULL, DS_LIVE_OFF);
    CHECK_STR(c.data, "copied");
    free(c.data);
    ds_stream_free(source);
    ds_stream_free(copy);
    ds_client_free(client);
}

static void test_access_control(void) {
    const char *tokens =
        "reader-token-0123456789 read /\n"
        "writer-token-0123456789 write /\n";
    ds_server *guarded = NULL;
    CHECK_OK(ds_server_start_with_tokens(NULL, tokens, &guarded));
    char url[256];
    snprintf(url, sizeof url, "%s/v1/stream/guarded", ds_server_url(guarded));

    ds_client *writer = NULL;
    CHECK_OK(ds_client_new_with_retries(0, &writer));
    CHECK_OK(ds_client_set_header(writer, "Authorization", "Bearer writer-token-0123456789"));
    ds_stream *w = NULL;
    CHECK_OK(ds_stream_new(writer, url, &w));
    CHECK_OK(ds_stream_create(w, "text/plain", NULL));
    append_str(w, "secret", NULL);

    ds_client *reader = NULL;
    CHECK_OK(ds_client_new_with_retries(0, &reader));
    CHECK_OK(ds_client_set_header(reader, "Authorization", "Bearer reader-token-0123456789"));
    ds_stream *r = NULL;
    CHECK_OK(ds_stream_new(reader, url, &r));
    collected c = read_all_iter(r, NULL, DS_LIVE_OFF);
    CHECK_STR(c.data, "secret");
    free(c.data);

    ds_client *anonymous = NULL;
    CHECK_OK(ds_client_new_with_retries(0, &anonymous));
    ds_stream *a = NULL;
    CHECK_OK(ds_stream_new(anonymous, url, &a));
    CHECK(ds_stream_create(a, "text/plain", NULL) == DS_UNAUTHORIZED);
    CHECK(ds_client_set_header(anonymous, "Bad Name", "x") == DS_INVALID_ARGUMENT);

    ds_stream_free(w);
    ds_stream_free(r);
    ds_stream_free(a);
    ds_client_free(writer);
    ds_client_free(reader);
    ds_client_free(anonymous);
    CHECK_OK(ds_server_stop(guarded));

    ds_server *bad = NULL;
    CHECK(ds_server_start_with_tokens(NULL, "too-short read /", &bad) == DS_INVALID_ARGUMENT);
    CHECK(bad == NULL);
}

/* ---- State Protocol ---- */

typedef struct {
    char keys[8][32];
    char values[8][64];
    int n;
} entities;

static bool on_entity(void *user_data, const char *key, size_t key_len, const char *value,
                      size_t value_len) {
    entities *e = user_data;
    if (e->n >= 8 || key_len >= 32 || value_len >= 64) return false;
    memcpy(e->keys[e->n], key, key_len);
    e->keys[e->n][key_len] = 0;
    memcpy(e->values[e->n], value, value_len);
    e->values[e->n][value_len] = 0;
    e->n++;
    return true;
}

static void apply_str(ds_state *s, const char *json, bool skip, size_t *applied, size_t *bad) {
    CHECK_OK(ds_state_apply_json(s, (const uint8_t *)json, strlen(json), skip, applied, bad));
}

static void test_state(void) {
    ds_state *s = ds_state_new();
    CHECK(s != NULL);
    size_t applied = 0, bad = 0;
    apply_str(s,
              "[{\"type\":\"presence\",\"key\":\"bob\",\"value\":{\"on\":true},\"headers\":{\"operation\":\"insert\"}},"
              "{\"type\":\"presence\",\"key\":\"ann\",\"value\":{\"on\":false},\"headers\":{\"operation\":\"insert\"}},"
              "{\"type\":\"presence\",\"key\":\"ann\",\"value\":{\"on\":true},\"headers\":{\"operation\":\"update\"}},"
              "{\"type\":\"room\",\"key\":\"r\",\"value\":1,\"headers\":{\"operation\":\"upsert\"}},"
              "{\"type\":\"room\",\"key\":\"r\",\"headers\":{\"operation\":\"delete\"}},"
              "{\"headers\":{\"control\":\"snapshot-start\"}}]",
              false, &applied, &bad);
    CHECK(applied == 6 && bad == 0);
    CHECK(ds_state_in_snapshot(s));
    CHECK(ds_state_size(s, "presence") == 2);
    CHECK(ds_state_size(s, "room") == 0);

    const char *value = NULL;
    size_t len = 0;
    bool found = false;
    CHECK_OK(ds_state_get(s, "presence", "ann", &value, &len, &found));
    CHECK(found && len == 11 && strncmp(value, "{\"on\":true}", len) == 0);
    CHECK_OK(ds_state_get(s, "presence", "zoe", &value, &len, &found));
    CHECK(!found && value == NULL && len == 0);

    entities e = {0};
    CHECK_OK(ds_state_iter(s, "presence", on_entity, &e));
    CHECK(e.n == 2);
    CHECK_STR(e.keys[0], "ann"); /* sorted by key */
    CHECK_STR(e.keys[1], "bob");
    CHECK_STR(e.values[1], "{\"on\":true}");

    char *json = NULL;
    CHECK_OK(ds_state_to_json(s, &json));
    CHECK_STR(json, "{\"presence\":{\"ann\":{\"on\":true},\"bob\":{\"on\":true}}}");
    ds_string_free(json);

    /* A malformed event names its field; the batch applies nothing. */
    const char *badj = "[{\"type\":\"t\",\"key\":\"k\",\"value\":1,\"headers\":{\"operation\":\"insert\"}},"
                       "{\"type\":\"t\",\"key\":\"\",\"headers\":{\"operation\":\"delete\"}}]";
    CHECK_ERR(ds_state_apply_json(s, (const uint8_t *)badj, strlen(badj), false, &applied, &bad),
              DS_MALFORMED_EVENT);
    CHECK_STR(ds_last_error_field(), "key");
    CHECK(ds_state_size(s, "t") == 0);
    apply_str(s, badj, true, &applied, &bad);
    CHECK(applied == 1 && bad == 1);
    CHECK(ds_last_error_field() == NULL);
    CHECK_ERR(ds_state_apply_json(s, (const uint8_t *)"{", 1, true, NULL, NULL), DS_MALFORMED_EVENT);
    CHECK_STR(ds_status_name(DS_MALFORMED_EVENT), "MALFORMED_EVENT");
    CHECK_ERR(ds_state_get(s, NULL, "k", &value, &len, &found), DS_INVALID_ARGUMENT);
    apply_str(s, "[{\"headers\":{\"control\":\"reset\"}}]", false, NULL, NULL);
    CHECK(ds_state_size(s, "presence") == 0);
    ds_state_free(s);
    ds_state_free(NULL);
}

static void test_state_builders(void) {
    char *ev = NULL;
    CHECK_OK(ds_state_event_insert("user", "1", "{\"name\":\"Ann\"}",
                             "{\"txid\":\"t1\",\"timestamp\":\"2025-01-15T10:30:00Z\",\"source\":{\"app\":\"c\"}}", &ev));
    CHECK_STR(ev, "{\"type\":\"user\",\"key\":\"1\",\"value\":{\"name\":\"Ann\"},\"headers\":"
                  "{\"operation\":\"insert\",\"txid\":\"t1\",\"timestamp\":\"2025-01-15T10:30:00Z\",\"source\":{\"app\":\"c\"}}}");
    /* Built events materialize: each one applied as a batch of one. */
    ds_state *s = ds_state_new();
    char batch[512];
    size_t applied = 0;
    snprintf(batch, sizeof batch, "[%s]", ev);
    apply_str(s, batch, false, &applied, NULL);
    CHECK(applied == 1);
    ds_string_free(ev);

    CHECK_OK(ds_state_event_update("user", "1", "{\"name\":\"Ann B.\"}", "{\"name\":\"Ann\"}", NULL, &ev));
    CHECK_STR(ev, "{\"type\":\"user\",\"key\":\"1\",\"value\":{\"name\":\"Ann B.\"},"
                  "\"old_value\":{\"name\":\"Ann\"},\"headers\":{\"operation\":\"update\"}}");
    snprintf(batch, sizeof batch, "[%s]", ev);
    apply_str(s, batch, false, NULL, NULL);
    ds_string_free(ev);

    CHECK_OK(ds_state_event_upsert("user", "2", "7", "{\"operation\":\"insert\"}", &ev));
    CHECK_STR(ev, "{\"type\":\"user\",\"key\":\"2\",\"value\":7,\"headers\":{\"operation\":\"upsert\"}}");
    snprintf(batch, sizeof batch, "[%s]", ev);
    apply_str(s, batch, false, NULL, NULL);
    ds_string_free(ev);

    CHECK_OK(ds_state_event_delete("user", "2", "7", NULL, &ev));
    CHECK_STR(ev, "{\"type\":\"user\",\"key\":\"2\",\"old_value\":7,\"headers\":{\"operation\":\"delete\"}}");
    snprintf(batch, sizeof batch, "[%s]", ev);
    apply_str(s, batch, false, NULL, NULL);
    ds_string_free(ev);

    char *json = NULL;
    CHECK_OK(ds_state_to_json(s, &json));
    CHECK_STR(json, "{\"user\":{\"1\":{\"name\":\"Ann B.\"}}}");
    ds_string_free(json);
    ds_state_free(s);

    /* Bad input: a clear error naming the field, and no event. */
    ev = NULL;
    CHECK_ERR(ds_state_event_insert("user", "", "1", NULL, &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "key");
    CHECK(ev == NULL);
    CHECK_ERR(ds_state_event_insert("", "k", "1", NULL, &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "type");
    CHECK_ERR(ds_state_event_insert("user", "k", "{nope", NULL, &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "value");
    CHECK_ERR(ds_state_event_insert("user", "k", NULL, NULL, &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "value");
    CHECK_ERR(ds_state_event_update("user", "k", "1", "[", NULL, &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "old_value");
    CHECK_ERR(ds_state_event_upsert("user", "k", "1", "{\"txid\":\"\"}", &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "headers.txid");
    CHECK_ERR(ds_state_event_delete("user", "k", NULL, "{\"timestamp\":\"now\"}", &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "headers.timestamp");
    CHECK_ERR(ds_state_event_delete("user", "k", NULL, "[1]", &ev), DS_INVALID_ARGUMENT);
    CHECK_STR(ds_last_error_field(), "headers");
    CHECK_ERR(ds_state_event_delete("user", "k", NULL, "{\"control\":\"reset\"}", &ev), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_state_event_delete(NULL, "k", NULL, NULL, &ev), DS_INVALID_ARGUMENT);
    CHECK_ERR(ds_state_event_delete("user", "k", NULL, NULL, NULL), DS_INVALID_ARGUMENT);
    CHECK(ev == NULL);
}

static void test_state_follower(void) {
    ds_client *client = new_client();
    ds_stream *stream = new_stream(client, "state");
    bool created = false;
    CHECK_OK(ds_stream_create(stream, "application/json", &created));
    append_str(stream, "{\"type\":\"flag\",\"key\":\"dark\",\"value\":true,\"headers\":{\"operation\":\"insert\"}}", NULL);
    append_str(stream, "{\"type\":\"flag\",\"key\":\"x\",\"headers\":{\"operation\":\"teleport\"}}", NULL);

    ds_state_follower *f = NULL;
    CHECK_OK(ds_state_follower_open(stream, NULL, DS_LIVE_OFF, false, &f));
    ds_state_update u;
    bool has = false;
    size_t applied = 0, malformed = 0;
    bool consistent = false;
    for (;;) {
        CHECK_OK(ds_state_follower_next(f, &u, &has));
        if (!has) break;
        CHECK(u.offset != NULL);
        applied += u.applied;
        malformed += u.malformed;
        consistent = u.consistent;
    }
    CHECK(applied == 1 && malformed == 1 && consistent);
    ds_state *view = ds_state_follower_state(f);
    CHECK(ds_state_size(view, "flag") == 1);
    char *checkpoint = NULL;
    CHECK_OK(ds_state_follower_checkpoint(f, &checkpoint));
    ds_state_free(view);
    ds_state_follower_free(f);

    /* Resumed from the checkpoint: the saved state, then only the tail. */
    append_str(stream, "{\"type\":\"flag\",\"key\":\"beta\",\"value\":false,\"headers\":{\"operation\":\"insert\"}}", NULL);
    CHECK_OK(ds_state_follower_open(stream, checkpoint, DS_LIVE_OFF, false, &f));
    CHECK_OK(ds_state_follower_next(f, &u, &has));
    CHECK(has && u.applied == 1 && u.up_to_date);
    view = ds_state_follower_state(f);
    CHECK(ds_state_size(view, "flag") == 2);
    ds_state_free(view);
    ds_state_follower_free(f);
    ds_string_free(checkpoint);

    /* Policy stop: the malformed event fails, then the follower is stopped. */
    CHECK_OK(ds_state_follower_open(stream, NULL, DS_LIVE_OFF, true, &f));
    CHECK_ERR(ds_state_follower_next(f, &u, &has), DS_MALFORMED_EVENT);
    CHECK_STR(ds_last_error_field(), "headers.operation");
    CHECK_ERR(ds_state_follower_next(f, &u, &has), DS_STOPPED);
    ds_state_follower_free(f);

    CHECK_ERR(ds_state_follower_open(stream, "{}", DS_LIVE_OFF, false, &f), DS_BAD_CHECKPOINT);
    CHECK(f == NULL);
    ds_stream_free(stream);
    ds_client_free(client);
}

/* `--materialize FILE`: applies the events of FILE (one JSON event per line) one by one
 * and prints the indices of the malformed ones, then the state as JSON. Used by
 * tests/state_agreement.py with the shared fixtures. */
static int materialize(const char *path) {
    FILE *in = fopen(path, "r");
    if (!in) return 2;
    ds_state *s = ds_state_new();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int index = 0;
    printf("malformed:");
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] == '\n') line[--n] = 0;
        char *batch = malloc((size_t)n + 3);
        batch[0] = '[';
        memcpy(batch + 1, line, (size_t)n);
        batch[n + 1] = ']';
        batch[n + 2] = 0;
        if (ds_state_apply_json(s, (const uint8_t *)batch, (size_t)n + 2, false, NULL, NULL) != DS_OK) {
            printf(" %d", index);
        }
        free(batch);
        index++;
    }
    free(line);
    fclose(in);
    char *json = NULL;
    int rc = ds_state_to_json(s, &json) == DS_OK ? 0 : 1;
    printf("\n%s\n", json ? json : "");
    ds_string_free(json);
    ds_state_free(s);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--materialize") == 0) return materialize(argv[2]);
    if (ds_server_start(NULL, &server) != DS_OK) {
        fprintf(stderr, "cannot start the in-process server: %s\n", ds_last_error_message());
        return 2;
    }
    run("version_and_status_names", test_version_and_status_names);
    run("server_start_stop", test_server_start_stop);
    run("create_append_head", test_create_append_head);
    run("client_freed_first", test_client_freed_first);
    run("read_callback", test_read_callback);
    run("reader_iterator", test_reader_iterator);
    run("close", test_close);
    run("delete_and_not_found", test_delete_and_not_found);
    run("request_errors", test_request_errors);
    run("invalid_arguments", test_invalid_arguments);
    run("producer", test_producer);
    run("producer_errors", test_producer_errors);
    run("last_error_is_per_thread", test_last_error_is_per_thread);
    run("callback_reentry", test_callback_reentry);
    run("access_control", test_access_control);
    run("state", test_state);
    run("state_builders", test_state_builders);
    run("state_follower", test_state_follower);
    if (ds_server_stop(server) != DS_OK) {
        fprintf(stderr, "stopping the server failed: %s\n", ds_last_error_message());
        tests_failed++;
    }
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed == 0 ? 0 : 1;
}
