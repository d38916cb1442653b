/* Unit tests for the event hub (src/core/event.c, ev_* in src/core/log.c): structured fields
 * next to the text line, the bounded ring, subscriber queues with counted gaps, unsubscribing
 * from inside a notification, JSON lines, journal field names and MESSAGE_IDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/event.h"
#include "core/log.h"
#include "core/logsink.h"

static void emit(int id, const char *user, uint64_t tunnel)
{
    struct event_line e;
    ev_begin(&e, id);
    ev_str(&e, "Username", user);
    ev_str(&e, "IpAddress", "192.0.2.7");
    ev_u64(&e, "TunnelId", tunnel);
    ev_end(&e);
}

static int setup(void **state)
{
    (void)state;
    event_hub_reset();
    return 0;
}

static void test_fields(void **state)
{
    (void)state;
    emit(200, "CONTOSO\\alice\"x\n", 7);
    assert_int_equal(event_history_count(), 1);
    const struct event *ev = event_history_at(0);
    assert_non_null(ev);
    assert_int_equal(ev->id, 200);
    assert_int_equal(ev->seq, 1);
    assert_int_equal(ev->nfields, 3);
    /* stored raw except control characters; the text line escapes */
    assert_string_equal(event_get(ev, "Username"), "CONTOSO\\alice\"x?");
    assert_string_equal(event_get(ev, "TunnelId"), "7");
    assert_null(event_get(ev, "Resource"));
    assert_true(ev->f[2].number);
    assert_false(ev->f[0].number);
    assert_string_equal(ev->message, "EVENT 200 Username=\"CONTOSO\\\\alice\\\"x?\" "
                                     "IpAddress=\"192.0.2.7\" TunnelId=\"7\"");
    assert_non_null(strstr(ev->line, " tsgwd["));
    assert_int_equal(strlen(ev->time), 24);
    /* the whole line: "<time> tsgwd[<pid>]: <message>", the time as ISO 8601 with ms, in UTC,
     * within a second of now (it is formatted from a per-second cache) */
    char head[64];
    snprintf(head, sizeof head, "%s tsgwd[%d]: ", ev->time, (int)getpid());
    assert_int_equal(strncmp(ev->line, head, strlen(head)), 0);
    assert_string_equal(ev->line + strlen(head), ev->message);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    unsigned ms = 1000;
    char z = 0;
    assert_int_equal(sscanf(ev->time, "%4d-%2d-%2dT%2d:%2d:%2d.%3u%c", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &z),
                     8);
    assert_true(ms < 1000);
    assert_int_equal(z, 'Z');
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    assert_true(llabs((long long)(t - time(NULL))) <= 2);
    assert_int_equal((uint64_t)t, ev->time_us / 1000000);
    assert_int_equal(ms, ev->time_us % 1000000 / 1000);
    assert_int_equal(event_count(200), 1);
    assert_int_equal(event_count(300), 0);
    assert_int_equal(event_count_total(), 1);
}

/* Numbers: 0, the largest, and an id printed as the text line's "EVENT <id>". */
static void test_numbers(void **state)
{
    (void)state;
    struct event_line e;
    ev_begin(&e, 4021);
    ev_u64(&e, "Zero", 0);
    ev_u64(&e, "Max", UINT64_MAX);
    ev_u64(&e, "Ten", 10);
    ev_end(&e);
    const struct event *ev = event_history_at(0);
    assert_non_null(ev);
    assert_string_equal(ev->message,
                        "EVENT 4021 Zero=\"0\" Max=\"18446744073709551615\" Ten=\"10\"");
    assert_string_equal(event_get(ev, "Max"), "18446744073709551615");
    assert_true(ev->f[1].number);
}

static void test_ring_bounded(void **state)
{
    (void)state;
    event_history_set_size(5);
    for (int i = 0; i < 12; i++)
        emit(302, "u", (uint64_t)i);
    assert_int_equal(event_history_count(), 5);
    /* the newest five, oldest first */
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(event_history_at(i)->seq, 8 + i);
    assert_null(event_history_at(5));
    event_history_set_size(2);
    assert_int_equal(event_history_count(), 2);
    assert_int_equal(event_history_at(0)->seq, 11);
    event_history_set_size(0);
    emit(303, "u", 1);
    assert_int_equal(event_history_count(), 0);
    assert_int_equal(event_count(302), 12);
}

static int notified;
static void on_notify(void *arg)
{
    (void)arg;
    notified++;
}

static void test_subscriber_gap(void **state)
{
    (void)state;
    struct event_sub *fast = event_subscribe(100, on_notify, NULL);
    struct event_sub *slow = event_subscribe(3, NULL, NULL);
    assert_int_equal(event_subscriber_count(), 2);
    notified = 0;
    for (int i = 0; i < 10; i++)
        emit(300, "u", (uint64_t)i);
    assert_int_equal(notified, 10);
    assert_int_equal(event_sub_queued(fast), 10);
    assert_int_equal(event_sub_queued(slow), 3);
    assert_int_equal(event_sub_dropped_total(slow), 7);
    uint64_t gap = 99;
    struct event *ev;
    for (int i = 0; i < 3; i++) {
        ev = event_sub_next(slow, &gap);
        assert_non_null(ev);
        assert_int_equal(ev->seq, 1 + i);
        assert_int_equal(gap, 0);
        event_unref(ev);
    }
    /* the 7 dropped show up as a gap, before the next event */
    emit(202, "u", 1);
    ev = event_sub_next(slow, &gap);
    assert_non_null(ev);
    assert_int_equal(gap, 7);
    assert_int_equal(ev->id, 202);
    event_unref(ev);
    assert_null(event_sub_next(slow, &gap));
    assert_int_equal(gap, 0);
    /* a reference taken from a queue outlives the ring and the subscription */
    ev = event_sub_next(fast, &gap);
    event_history_set_size(0);
    event_unsubscribe(fast);
    assert_int_equal(ev->seq, 1);
    assert_string_equal(event_get(ev, "Username"), "u");
    event_unref(ev);
    event_unsubscribe(slow);
    assert_int_equal(event_subscriber_count(), 0);
}

static struct event_sub *self_sub;
static void unsubscribe_self(void *arg)
{
    (void)arg;
    event_unsubscribe(self_sub);
}

static void test_unsubscribe_in_notify(void **state)
{
    (void)state;
    struct event_sub *other = event_subscribe(10, NULL, NULL);
    self_sub = event_subscribe(10, unsubscribe_self, NULL);
    emit(200, "a", 1);
    emit(200, "b", 2);
    assert_int_equal(event_subscriber_count(), 1);
    assert_int_equal(event_sub_queued(other), 2);
    event_unsubscribe(other);
}

static void test_json(void **state)
{
    (void)state;
    emit(302, "CONTOSO\\bob\"", 3);
    struct buf b = BUF_INIT;
    event_format_json(event_history_at(0), &b);
    buf_put_u8(&b, 0);
    const char *j = (const char *)buf_data(&b);
    assert_non_null(strstr(j, "{\"EventId\":302,\"Time\":\"20"));
    assert_non_null(strstr(j, ",\"Seq\":1,\"Username\":\"CONTOSO\\\\bob\\\"\","
                              "\"IpAddress\":\"192.0.2.7\",\"TunnelId\":3}"));
    buf_free(&b);
}

static void test_journal_names(void **state)
{
    (void)state;
    char n[64], mid[33];
    sink_journal_field("Username", n, sizeof n);
    assert_string_equal(n, "TSGW_USERNAME");
    sink_journal_field("IpAddress", n, sizeof n);
    assert_string_equal(n, "TSGW_CLIENT_ADDRESS");
    sink_journal_field("BytesTransfered", n, sizeof n);
    assert_string_equal(n, "TSGW_BYTES_TRANSFERED");
    sink_journal_field("TunnelId", n, sizeof n);
    assert_string_equal(n, "TSGW_TUNNEL_ID");
    sink_message_id(302, mid);
    assert_string_equal(mid, "4f1ad8e0b5a94c2fa7d36b91c8000302");
    assert_int_equal(strlen(mid), 32);
    assert_int_equal(sink_event_priority(201), 4);
    assert_int_equal(sink_event_priority(200), 6);
    assert_int_equal(sink_parse_target("syslog"), SINK_SYSLOG);
    assert_int_equal(sink_parse_target("journal"), SINK_JOURNAL);
    assert_int_equal(sink_parse_target("file"), -1);
}

static void test_too_many_fields(void **state)
{
    (void)state;
    struct event_line e;
    ev_begin(&e, 303);
    for (int i = 0; i < EVENT_MAX_FIELDS + 5; i++)
        ev_u64(&e, "K", (uint64_t)i);
    ev_end(&e);
    assert_int_equal(event_history_at(0)->nfields, EVENT_MAX_FIELDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_fields, setup),
        cmocka_unit_test_setup(test_numbers, setup),
        cmocka_unit_test_setup(test_ring_bounded, setup),
        cmocka_unit_test_setup(test_subscriber_gap, setup),
        cmocka_unit_test_setup(test_unsubscribe_in_notify, setup),
        cmocka_unit_test_setup(test_json, setup),
        cmocka_unit_test_setup(test_journal_names, setup),
        cmocka_unit_test_setup(test_too_many_fields, setup),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    event_hub_reset();
    return r;
}
