#include "harness.h"

TEST(strerror_covers_every_code)
{
    for (int code = CARA_ERROR_FIRST_ + 1; code < CARA_ERROR_END_; code++) {
        CHECK(strcmp(cara_strerror(code), "unknown error") != 0);
        CHECK(strcmp(cara_errname(code), "CARA_E?") != 0);
    }
    CHECK_STR(cara_errname(CARA_EPARSE), "CARA_EPARSE");
    CHECK_STR(cara_strerror(12345), "unknown error");
}

TEST(rng_same_seed_same_sequence)
{
    cara_rng a, b;
    cara_rng_seed(&a, 42);
    cara_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        CHECK(cara_rng_next(&a) == cara_rng_next(&b));
    cara_rng_seed(&b, 43);
    CHECK(cara_rng_next(&a) != cara_rng_next(&b));
}

TEST(rng_below_stays_in_bounds_and_covers_range)
{
    cara_rng r;
    cara_rng_seed(&r, cara_test_seed());
    int seen[7] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t v = cara_rng_below(&r, 7);
        CHECK(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++)
        CHECK(seen[i] > 1000); /* expected ~1428 each */
}

TEST(buf_refuses_growth_past_its_cap)
{
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), 10);
    CHECK_OK(cara_buf_append_str(&b, "hello"));
    CHECK_OK(cara_buf_printf(&b, "%d", 1234));
    CHECK_INT(b.len, ==, 9);
    CHECK_RC(cara_buf_append_str(&b, "xy"), CARA_ETOOBIG);
    CHECK_INT(b.len, ==, 9); /* unchanged on error */
    CHECK_STR((char *)b.data, "hello1234");
    CHECK_RC(cara_buf_printf(&b, "%s", "ab"), CARA_ETOOBIG);
    CHECK_OK(cara_buf_append_str(&b, "!"));
    CHECK_INT(b.len, ==, 10);
    cara_buf_free(&b);
}

TEST(time_parses_rfc3339_forms)
{
    int64_t ms;
    CHECK_OK(cara_time_parse_rfc3339("1970-01-01T00:00:00Z", 20, &ms));
    CHECK_INT(ms, ==, 0);
    CHECK_OK(cara_time_parse_rfc3339("2026-12-01T00:00:00Z", 20, &ms));
    CHECK_INT(ms, ==, 1796083200000LL);
    const char *off = "2026-12-01t01:30:00.25+01:30";
    CHECK_OK(cara_time_parse_rfc3339(off, strlen(off), &ms));
    CHECK_INT(ms, ==, 1796083200250LL);
    const char *neg = "2026-11-30T23:00:00-01:00";
    CHECK_OK(cara_time_parse_rfc3339(neg, strlen(neg), &ms));
    CHECK_INT(ms, ==, 1796083200000LL);
    CHECK_OK(cara_time_parse_rfc3339("2024-02-29T12:00:00Z", 20, &ms));
}

TEST(time_rejects_malformed_rfc3339)
{
    const char *bad[] = {
        "", "2026-12-01", "2026-12-01 00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T00:60:00Z",
        "2026-12-01T00:00:60Z", "2026-12-01T00:00:00", "2026-12-01T00:00:00+0100",
        "2026-12-01T00:00:00.Z", "2026-12-01T00:00:00Zjunk", "26-12-01T00:00:00Z",
        "2026-12-01T00:00:00.1234567890Z", "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms;
        if (cara_time_parse_rfc3339(bad[i], strlen(bad[i]), &ms) != CARA_EPARSE)
            cara_test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
    }
}

TEST(time_format_round_trips)
{
    cara_rng r;
    cara_rng_seed(&r, cara_test_seed());
    for (int i = 0; i < 10000; i++) {
        int64_t ms = (int64_t)cara_rng_below(&r, 253402300799999ULL); /* ..9999-12-31 */
        if (i % 2)
            ms -= ms % 1000;
        char text[CARA_TIME_TEXT_BYTES];
        CHECK_OK(cara_time_format_rfc3339(ms, text));
        int64_t back;
        CHECK_OK(cara_time_parse_rfc3339(text, strlen(text), &back));
        CHECK_INT(back, ==, ms);
    }
    char text[CARA_TIME_TEXT_BYTES];
    CHECK_OK(cara_time_format_rfc3339(1796083200250LL, text));
    CHECK_STR(text, "2026-12-01T00:00:00.250Z");
}

TEST(mpcheck_accepts_well_formed_objects)
{
    /* {"a": [1, "xy", nil], "b": 2} */
    const uint8_t ok[] = {0x82, 0xa1, 'a', 0x93, 0x01, 0xa2, 'x', 'y', 0xc0, 0xa1, 'b', 0x02};
    size_t n;
    CHECK_OK(cara_mpcheck(ok, sizeof ok, CARA_MP_DEPTH_MAX, &n));
    CHECK_INT(n, ==, sizeof ok);
    /* Trailing bytes are not part of the object. */
    const uint8_t two[] = {0x01, 0x02};
    CHECK_OK(cara_mpcheck(two, sizeof two, CARA_MP_DEPTH_MAX, &n));
    CHECK_INT(n, ==, 1);
}

TEST(mpcheck_rejects_counts_larger_than_the_bytes_left)
{
    const uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const uint8_t huge_map[] = {0xdf, 0x00, 0x10, 0x00, 0x00, 0x01};
    const uint8_t huge_str[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    const uint8_t short_arr[] = {0x93, 0x01, 0x02};
    const uint8_t reserved[] = {0xc1};
    const uint8_t cut_hdr[] = {0xcd, 0x01};
    size_t n;
    CHECK_RC(cara_mpcheck(huge_array, sizeof huge_array, 8, &n), CARA_EPARSE);
    CHECK_RC(cara_mpcheck(huge_map, sizeof huge_map, 8, &n), CARA_EPARSE);
    CHECK_RC(cara_mpcheck(huge_str, sizeof huge_str, 8, &n), CARA_EPARSE);
    CHECK_RC(cara_mpcheck(short_arr, sizeof short_arr, 8, &n), CARA_EPARSE);
    CHECK_RC(cara_mpcheck(reserved, sizeof reserved, 8, &n), CARA_EPARSE);
    CHECK_RC(cara_mpcheck(cut_hdr, sizeof cut_hdr, 8, &n), CARA_EPARSE);
    CHECK_RC(cara_mpcheck(huge_array, 0, 8, &n), CARA_EPARSE);
}

TEST(mpcheck_rejects_deep_nesting)
{
    uint8_t deep[40];
    memset(deep, 0x91, sizeof deep); /* [[[[...]]]] */
    deep[39] = 0x00;
    size_t n;
    CHECK_RC(cara_mpcheck(deep, sizeof deep, 8, &n), CARA_ETOOBIG);
    CHECK_OK(cara_mpcheck(deep + 32, 8, 8, &n));
}

TEST(mpcheck_bounded_counts_every_element_claimed_at_every_level)
{
    size_t n;
    /* {"a": [1, "xy", nil], "b": 2}: 2 pairs (4 elements) + 3 = 7. */
    const uint8_t map[] = {0x82, 0xa1, 'a', 0x93, 0x01, 0xa2, 'x', 'y', 0xc0, 0xa1, 'b', 0x02};
    CHECK_OK(cara_mpcheck_bounded(map, sizeof map, 8, 7, &n));
    CHECK_INT(n, ==, sizeof map);
    CHECK_RC(cara_mpcheck_bounded(map, sizeof map, 8, 6, &n), CARA_ETOOBIG);
    /* [[1, 2], [3, 4]]: 2 + 2 + 2 = 6, the outermost object counting
     * nothing. */
    const uint8_t nested[] = {0x92, 0x92, 0x01, 0x02, 0x92, 0x03, 0x04};
    CHECK_OK(cara_mpcheck_bounded(nested, sizeof nested, 8, 6, &n));
    CHECK_RC(cara_mpcheck_bounded(nested, sizeof nested, 8, 5, &n), CARA_ETOOBIG);
    /* Scalars and empty arrays claim nothing. */
    const uint8_t scalar[] = {0xcd, 0x01, 0x00};
    const uint8_t empty[] = {0x90};
    const uint8_t one[] = {0x91, 0xc0};
    CHECK_OK(cara_mpcheck_bounded(scalar, sizeof scalar, 8, 0, &n));
    CHECK_OK(cara_mpcheck_bounded(empty, sizeof empty, 8, 0, &n));
    CHECK_RC(cara_mpcheck_bounded(one, sizeof one, 8, 0, &n), CARA_ETOOBIG);
    /* The claim is judged at its header: an honest array16 of 1000 nils
     * against a bound of 999 is refused before any nil is scanned, so a
     * flood of tiny elements costs the scan no more than the bound. */
    uint8_t flood[3 + 1000];
    flood[0] = 0xdc;
    flood[1] = 1000 >> 8;
    flood[2] = 1000 & 0xff;
    memset(flood + 3, 0xc0, 1000);
    CHECK_OK(cara_mpcheck_bounded(flood, sizeof flood, 8, 1000, &n));
    CHECK_INT(n, ==, sizeof flood);
    CHECK_RC(cara_mpcheck_bounded(flood, sizeof flood, 8, 999, &n), CARA_ETOOBIG);
    /* Truncated past the bound: the lie is found first (count > bytes left). */
    CHECK_RC(cara_mpcheck_bounded(flood, 500, 8, 999, &n), CARA_EPARSE);
    CHECK_RC(cara_mpcheck_bounded(flood, 500, 8, 10, &n), CARA_EPARSE);
    /* cara_mpcheck is the same scan with no element bound. */
    CHECK_OK(cara_mpcheck(flood, sizeof flood, 8, &n));
    CHECK_OK(cara_mpcheck_bounded(flood, sizeof flood, 8, SIZE_MAX, &n));
    /* Depth is still judged: 40 levels of one element each. */
    uint8_t deep[40];
    memset(deep, 0x91, sizeof deep);
    deep[39] = 0x00;
    CHECK_RC(cara_mpcheck_bounded(deep, sizeof deep, 8, SIZE_MAX, &n), CARA_ETOOBIG);
    /* Its last 8 bytes: seven arrays of one, seven elements. */
    CHECK_OK(cara_mpcheck_bounded(deep + 32, 8, 8, 7, &n));
    CHECK_RC(cara_mpcheck_bounded(deep + 32, 8, 8, 6, &n), CARA_ETOOBIG);
}

/* The slot index against a plain array: random puts and deletes, with
 * hashes drawn from a few values so that runs collide and wrap, must
 * always find exactly the keys the array holds. */
typedef struct slotidx_model {
    uint64_t key[64];
    bool used[64];
    uint64_t want;
} slotidx_model;

static uint64_t slotidx_model_hash(const void *ctx, size_t slot)
{
    const slotidx_model *m = ctx;
    return m->key[slot] % 5 * 0x9E3779B97F4A7C15ULL + 15; /* few, wrapping homes */
}

static bool slotidx_model_match(const void *ctx, size_t slot)
{
    const slotidx_model *m = ctx;
    return m->used[slot] && m->key[slot] == m->want;
}

TEST(slotidx_finds_what_a_scan_finds)
{
    cara_rng r;
    cara_rng_seed(&r, cara_test_seed());
    slotidx_model m = {0};
    cara_slotidx x;
    CHECK_OK(cara_slotidx_init(&x, cara_test_env(), 128));
    for (int step = 0; step < 20000; step++) {
        size_t slot = cara_rng_below(&r, 64);
        uint64_t key = cara_rng_below(&r, 200);
        m.want = key;
        bool held = false;
        for (size_t i = 0; i < 64; i++)
            held |= m.used[i] && m.key[i] == key;
        if (!m.used[slot] && !held) {
            m.key[slot] = key;
            m.used[slot] = true;
            cara_slotidx_put(&x, slotidx_model_hash(&m, slot), slot);
        } else if (m.used[slot] && cara_rng_below(&r, 2) == 0) {
            cara_slotidx_del(&x, slotidx_model_hash(&m, slot), slot, slotidx_model_hash, &m);
            m.used[slot] = false;
        } else if (m.used[slot]) {
            /* Renumber: the key moves to a free slot. */
            size_t to = cara_rng_below(&r, 64);
            if (!m.used[to]) {
                cara_slotidx_move(&x, slotidx_model_hash(&m, slot), slot, to);
                m.key[to] = m.key[slot];
                m.used[to] = true;
                m.used[slot] = false;
            }
        }
        for (uint64_t k = 0; k < 200; k += 7) {
            m.want = k;
            size_t want = CARA_SLOTIDX_NONE;
            for (size_t i = 0; i < 64; i++)
                if (m.used[i] && m.key[i] == k)
                    want = i;
            uint64_t h = k % 5 * 0x9E3779B97F4A7C15ULL + 15;
            CHECK_INT(cara_slotidx_find(&x, h, slotidx_model_match, &m), ==, want);
        }
    }
    cara_slotidx_free(&x, cara_test_env());
}
