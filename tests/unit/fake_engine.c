#include "fake_engine.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/netpool.h"
#include "harness.h"

#define FAKE_BODY_BYTES_MAX (1024 * 1024)

struct fake_engine {
    struct MHD_Daemon *daemon;
    char path[108];
    char host[128];
    pthread_mutex_t lock;
    json_t *containers, *networks, *volumes; /* arrays of list entries */
    json_t *stale;                           /* ids whose start is refused */
    json_t *images;                          /* "repo:tag" -> fake_image_state, if not PRESENT */
    int pulls;
    unsigned next_id;
    int race_next;
    int starts_refused, overlaps_refused;
};

typedef struct request {
    char *body;
    size_t len;
} request;

typedef struct reply {
    int status;
    json_t *body; /* taken; NULL: empty */
} reply;

static reply answer(int status, json_t *body) { return (reply){status, body}; }

static reply message(int status, const char *fmt, const char *arg)
{
    return answer(status, json_pack("{s:o}", "message", json_sprintf(fmt, arg)));
}

/* ---- Finding objects ---------------------------------------------------------------- */

static const char *name_of(json_t *o)
{
    const char *n = json_string_value(json_object_get(o, "Name"));
    if (n != NULL)
        return n;
    n = json_string_value(json_array_get(json_object_get(o, "Names"), 0));
    return n != NULL && n[0] == '/' ? n + 1 : n;
}

/* By id or name, as the engine does. Returns the index or -1. */
static long find(json_t *arr, const char *key)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *id = json_string_value(json_object_get(o, "Id"));
        const char *n = name_of(o);
        if ((id != NULL && strcmp(id, key) == 0) || (n != NULL && strcmp(n, key) == 0))
            return (long)i;
    }
    return -1;
}

/* Whether `o` carries every "k=v" of the filters' "label" list. */
static bool labels_match(json_t *o, json_t *filters)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(filters, "label"), i, f) {
        const char *kv = json_string_value(f), *eq = kv ? strchr(kv, '=') : NULL;
        if (eq == NULL)
            continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        const char *v = json_string_value(json_object_get(json_object_get(o, "Labels"), key));
        if (v == NULL || strcmp(v, eq + 1) != 0)
            return false;
    }
    return true;
}

static json_t *listing(json_t *arr, const char *filters_text)
{
    json_t *filters = filters_text ? json_loads(filters_text, 0, NULL) : NULL;
    json_t *out = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        if (labels_match(o, filters))
            json_array_append(out, o);
    }
    json_decref(filters);
    return out;
}

static void new_id(fake_engine *fe, char *out)
{
    snprintf(out, 65, "%064x", ++fe->next_id);
}

/* ---- Routes ------------------------------------------------------------------------------ */

static bool overlaps_any(fake_engine *fe, cara_cidr c)
{
    size_t i;
    json_t *n;
    json_array_foreach(fe->networks, i, n) {
        cara_cidr o;
        const char *s = json_string_value(
            json_object_get(json_array_get(json_object_get(json_object_get(n, "IPAM"), "Config"), 0),
                            "Subnet"));
        if (cara_cidr_parse(s, &o) == 0 && cara_cidr_overlap(o, c))
            return true;
    }
    return false;
}

static json_t *network_entry(fake_engine *fe, const char *name, const char *subnet, json_t *labels)
{
    char id[65];
    new_id(fe, id);
    json_t *cfg = subnet ? json_pack("[{s:s}]", "Subnet", subnet) : json_array();
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:o}, s:o}", "Name", name, "Id", id, "Driver",
                     "bridge", "IPAM", "Driver", "default", "Config", cfg, "Labels",
                     labels ? json_incref(labels) : json_object());
}

static reply network_create(fake_engine *fe, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "Name"));
    const char *subnet = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(body, "IPAM"), "Config"), 0), "Subnet"));
    if (name == NULL)
        return message(400, "%s", "no name");
    if (find(fe->networks, name) >= 0)
        return message(409, "network with name %s already exists", name);
    cara_cidr c;
    if (subnet != NULL && cara_cidr_parse(subnet, &c) != 0)
        return message(400, "invalid subnet %s", subnet);
    if (subnet != NULL && fe->race_next) {
        fe->race_next = 0;
        json_array_append_new(fe->networks, network_entry(fe, "racer", subnet, NULL));
    }
    if (subnet != NULL && overlaps_any(fe, c)) {
        fe->overlaps_refused++;
        return message(403, "%s", "Pool overlaps with other one on this address space");
    }
    json_t *n = network_entry(fe, name, subnet, json_object_get(body, "Labels"));
    json_array_append_new(fe->networks, n);
    return answer(201, json_pack("{s:O, s:s}", "Id", json_object_get(n, "Id"), "Warning", ""));
}

static reply volume_create(fake_engine *fe, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "Name"));
    long i = name ? find(fe->volumes, name) : -1;
    if (name == NULL)
        return message(400, "%s", "no name");
    if (i < 0) {
        json_t *l = json_object_get(body, "Labels");
        json_array_append_new(fe->volumes, json_pack("{s:s, s:s, s:O}", "Name", name, "Driver",
                                                     "local", "Labels", l ? l : json_object()));
        i = (long)json_array_size(fe->volumes) - 1;
    }
    return answer(201, json_incref(json_array_get(fe->volumes, (size_t)i)));
}

static reply container_create(fake_engine *fe, const char *name, json_t *body)
{
    if (name == NULL)
        return message(400, "%s", "no name");
    if (find(fe->containers, name) >= 0)
        return message(409, "Conflict. The container name \"/%s\" is already in use", name);
    char id[65], slash_name[256];
    new_id(fe, id);
    snprintf(slash_name, sizeof slash_name, "/%s", name);
    json_t *l = json_object_get(body, "Labels");
    json_array_append_new(fe->containers,
                          json_pack("{s:s, s:[s], s:O, s:s, s:s, s:O}", "Id", id, "Names",
                                    slash_name, "Image", json_object_get(body, "Image"), "State",
                                    "created", "Status", "Created", "Labels",
                                    l ? l : json_object()));
    return answer(201, json_pack("{s:s, s:[]}", "Id", id, "Warnings"));
}

static reply container_action(fake_engine *fe, const char *method, const char *key,
                              const char *action)
{
    long i = find(fe->containers, key);
    if (i < 0)
        return message(404, "No such container: %s", key);
    json_t *c = json_array_get(fe->containers, (size_t)i);
    const char *id = json_string_value(json_object_get(c, "Id"));
    const char *state = json_string_value(json_object_get(c, "State"));
    bool running = strcmp(state, "running") == 0;
    if (strcmp(method, "DELETE") == 0) {
        json_object_del(fe->stale, id);
        json_array_remove(fe->containers, (size_t)i);
        return answer(204, NULL);
    }
    if (strcmp(action, "start") == 0) {
        if (json_object_get(fe->stale, id) != NULL) {
            fe->starts_refused++;
            return message(500, "task %s: already exists", id);
        }
        if (running)
            return answer(304, NULL);
        json_object_set_new(c, "State", json_string("running"));
        json_object_set_new(c, "Status", json_string("Up 1 second"));
        return answer(204, NULL);
    }
    if (strcmp(action, "stop") == 0 || strcmp(action, "kill") == 0) {
        if (!running)
            return answer(304, NULL);
        json_object_set_new(c, "State", json_string("exited"));
        json_object_set_new(c, "Status", json_string("Exited (0) 1 second ago"));
        return answer(204, NULL);
    }
    return message(404, "fake engine: no action %s", action);
}

static reply remove_named(json_t *arr, const char *key, const char *what)
{
    long i = find(arr, key);
    if (i < 0)
        return message(404, what, key);
    json_array_remove(arr, (size_t)i);
    return answer(204, NULL);
}

static fake_image_state image_state(fake_engine *fe, const char *image)
{
    json_t *v = json_object_get(fe->images, image);
    return v != NULL ? (fake_image_state)json_integer_value(v) : FAKE_IMAGE_PRESENT;
}

/* GET /images/NAME/json */
static reply image_inspect(fake_engine *fe, const char *rest)
{
    char image[512];
    size_t n = strlen(rest);
    if (n < 5 || strcmp(rest + n - 5, "/json") != 0)
        return message(404, "fake engine: no route for image %s", rest);
    snprintf(image, sizeof image, "%.*s", (int)(n - 5), rest);
    if (image_state(fe, image) != FAKE_IMAGE_PRESENT)
        return message(404, "No such image: %s", image);
    return answer(200, json_pack("{s:s}", "Id", "sha256:fake"));
}

/* POST /images/create?fromImage=REPO&tag=TAG: the words of an engine that
 * cannot resolve its registry, or one progress line. */
static reply image_pull(fake_engine *fe, struct MHD_Connection *conn)
{
    const char *repo = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fromImage");
    const char *tag = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tag");
    char image[512];
    snprintf(image, sizeof image, "%s:%s", repo ? repo : "", tag ? tag : "latest");
    fe->pulls++;
    if (image_state(fe, image) == FAKE_IMAGE_UNPULLABLE)
        return message(500, "%s", "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup "
                                  "registry-1.docker.io: no such host");
    json_object_del(fe->images, image);
    return answer(200, json_pack("{s:s}", "status", "Downloaded newer image"));
}

/* Splits "/containers/ID/start" into id and action ("" when absent). */
static void split_object(const char *rest, char *key, size_t cap, const char **action)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    snprintf(key, cap, "%.*s", (int)n, rest);
    *action = slash ? slash + 1 : "";
}

static reply route(fake_engine *fe, struct MHD_Connection *conn, const char *method,
                   const char *path, json_t *body)
{
    const char *filters = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "filters");
    char key[256];
    const char *action;
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (get && strcmp(path, "/_ping") == 0)
        return answer(200, json_string("OK"));
    if (get && strcmp(path, "/containers/json") == 0)
        return answer(200, listing(fe->containers, filters));
    if (get && strcmp(path, "/networks") == 0)
        return answer(200, listing(fe->networks, filters));
    if (get && strcmp(path, "/volumes") == 0)
        return answer(200, json_pack("{s:o, s:n}", "Volumes", listing(fe->volumes, filters),
                                     "Warnings"));
    if (get && strcmp(path, "/events") == 0)
        return answer(200, NULL); /* the stream ends at once; the reconciler resyncs */
    if (get && strncmp(path, "/images/", 8) == 0)
        return image_inspect(fe, path + 8);
    if (post && strcmp(path, "/images/create") == 0)
        return image_pull(fe, conn);
    if (post && strcmp(path, "/networks/create") == 0)
        return network_create(fe, body);
    if (post && strcmp(path, "/volumes/create") == 0)
        return volume_create(fe, body);
    if (post && strcmp(path, "/containers/create") == 0)
        return container_create(
            fe, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name"), body);
    if (strncmp(path, "/containers/", 12) == 0) {
        split_object(path + 12, key, sizeof key, &action);
        return container_action(fe, method, key, action);
    }
    if (strcmp(method, "DELETE") == 0 && strncmp(path, "/networks/", 10) == 0)
        return remove_named(fe->networks, path + 10, "network %s not found");
    if (strcmp(method, "DELETE") == 0 && strncmp(path, "/volumes/", 9) == 0)
        return remove_named(fe->volumes, path + 9, "get %s: no such volume");
    return message(404, "fake engine: no route for %s", path);
}

/* ---- The server ------------------------------------------------------------------------- */

static enum MHD_Result send_reply(struct MHD_Connection *conn, reply rp)
{
    char *text = rp.body ? json_dumps(rp.body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(rp.body);
    size_t len = text ? strlen(text) : 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, text ? text : (char *)"", MHD_RESPMEM_MUST_COPY);
    free(text);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result res = MHD_queue_response(conn, (unsigned)rp.status, r);
    MHD_destroy_response(r);
    return res;
}

static enum MHD_Result on_request(void *ctx, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **state)
{
    (void)version;
    fake_engine *fe = ctx;
    request *rq = *state;
    if (rq == NULL) {
        *state = rq = calloc(1, sizeof *rq);
        return rq ? MHD_YES : MHD_NO;
    }
    if (*data_len > 0) {
        if (rq->len + *data_len > FAKE_BODY_BYTES_MAX)
            return MHD_NO;
        rq->body = realloc(rq->body, rq->len + *data_len + 1);
        memcpy(rq->body + rq->len, data, *data_len);
        rq->len += *data_len;
        rq->body[rq->len] = '\0';
        *data_len = 0;
        return MHD_YES;
    }
    const char *path = strncmp(url, "/v1.41", 6) == 0 ? url + 6 : url;
    json_t *body = rq->len ? json_loadb(rq->body, rq->len, 0, NULL) : NULL;
    pthread_mutex_lock(&fe->lock);
    reply rp = route(fe, conn, method, path, body);
    pthread_mutex_unlock(&fe->lock);
    json_decref(body);
    return send_reply(conn, rp);
}

static void on_completed(void *ctx, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)ctx, (void)conn, (void)code;
    request *rq = *state;
    if (rq != NULL) {
        free(rq->body);
        free(rq);
    }
    *state = NULL;
}

fake_engine *fake_engine_start(void)
{
    static unsigned serial;
    fake_engine *fe = calloc(1, sizeof *fe);
    CHECK(fe != NULL);
    snprintf(fe->path, sizeof fe->path, "/tmp/cara-fake-engine-%d-%u.sock", (int)getpid(), serial++);
    snprintf(fe->host, sizeof fe->host, "unix://%s", fe->path);
    pthread_mutex_init(&fe->lock, NULL);
    fe->containers = json_array();
    fe->networks = json_array();
    fe->volumes = json_array();
    fe->stale = json_object();
    fe->images = json_object();
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", fe->path);
    unlink(fe->path);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 64) == 0);
    fe->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, fe,
                                  MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
                                  on_completed, fe, MHD_OPTION_END);
    CHECK(fe->daemon != NULL);
    return fe;
}

void fake_engine_stop(fake_engine *fe)
{
    MHD_stop_daemon(fe->daemon);
    unlink(fe->path);
    json_decref(fe->containers);
    json_decref(fe->networks);
    json_decref(fe->volumes);
    json_decref(fe->stale);
    json_decref(fe->images);
    pthread_mutex_destroy(&fe->lock);
    free(fe);
}

const char *fake_engine_host(const fake_engine *fe) { return fe->host; }

void fake_engine_restart_keeping_stale_tasks(fake_engine *fe)
{
    pthread_mutex_lock(&fe->lock);
    size_t i;
    json_t *c;
    json_array_foreach(fe->containers, i, c) {
        json_object_set_new(c, "State", json_string("exited"));
        json_object_set_new(c, "Status", json_string("Exited (255) 1 second ago"));
        json_object_set_new(fe->stale, json_string_value(json_object_get(c, "Id")), json_true());
    }
    pthread_mutex_unlock(&fe->lock);
}

static int read_int(fake_engine *fe, const int *v)
{
    pthread_mutex_lock(&fe->lock);
    int n = *v;
    pthread_mutex_unlock(&fe->lock);
    return n;
}

int fake_engine_starts_refused(fake_engine *fe) { return read_int(fe, &fe->starts_refused); }
int fake_engine_pulls(fake_engine *fe) { return read_int(fe, &fe->pulls); }

void fake_engine_set_image(fake_engine *fe, const char *image, fake_image_state st)
{
    pthread_mutex_lock(&fe->lock);
    if (st == FAKE_IMAGE_PRESENT)
        json_object_del(fe->images, image);
    else
        json_object_set_new(fe->images, image, json_integer(st));
    pthread_mutex_unlock(&fe->lock);
}
int fake_engine_overlaps_refused(fake_engine *fe) { return read_int(fe, &fe->overlaps_refused); }

void fake_engine_add_foreign_network(fake_engine *fe, const char *name, const char *subnet)
{
    pthread_mutex_lock(&fe->lock);
    json_array_append_new(fe->networks, network_entry(fe, name, subnet, NULL));
    pthread_mutex_unlock(&fe->lock);
}

void fake_engine_race_next_network(fake_engine *fe)
{
    pthread_mutex_lock(&fe->lock);
    fe->race_next = 1;
    pthread_mutex_unlock(&fe->lock);
}

/* Copies field `get` of the object named `name` in `arr`. */
static int copy_of(fake_engine *fe, json_t *arr, const char *name, bool subnet, char *out,
                   size_t cap)
{
    pthread_mutex_lock(&fe->lock);
    long i = find(arr, name);
    json_t *o = i >= 0 ? json_array_get(arr, (size_t)i) : NULL;
    const char *v = subnet ? json_string_value(json_object_get(
                                 json_array_get(json_object_get(json_object_get(o, "IPAM"), "Config"), 0),
                                 "Subnet"))
                           : json_string_value(json_object_get(o, "Id"));
    if (v != NULL)
        snprintf(out, cap, "%s", v);
    pthread_mutex_unlock(&fe->lock);
    return v != NULL ? 0 : -1;
}

int fake_engine_network_subnet(fake_engine *fe, const char *name, char *out, size_t cap)
{
    return copy_of(fe, fe->networks, name, true, out, cap);
}

int fake_engine_container_id(fake_engine *fe, const char *name, char *out, size_t cap)
{
    return copy_of(fe, fe->containers, name, false, out, cap);
}

size_t fake_engine_containers(fake_engine *fe)
{
    pthread_mutex_lock(&fe->lock);
    size_t n = json_array_size(fe->containers);
    pthread_mutex_unlock(&fe->lock);
    return n;
}
