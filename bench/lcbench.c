/*
 * lcbench.c -- single-threaded epoll load generator for line-based chat servers.
 *
 * Part of the Little Cats benchmark kit (bench/).  No third-party libraries.
 *
 * This file is a copy of the shared kit's ../shared/bench/lcbench.c (next to the
 * repository), committed in this repository as bench/lcbench.c and extended with
 * WebSocket clients for the littlecats web door (--web-clients, below); with
 * --web-clients 0 (the default) it behaves as the shared version and prints the same
 * JSON plus the per-door breakdown "by_door" (its "web" entry zero).  One more change:
 * the irc protocol counts only its own channel's JOIN and 366 (below), for servers that
 * join a client to a channel of their own first (littlecats's IRC door: #lobby).
 *
 *   gcc -O2 -Wall -Wextra -o lcbench lcbench.c -lm
 *
 * Protocols
 *   littlecats  Server sends greeting line(s), the last being a nickname prompt.
 *               Client answers "<nick>\r\n".  A "*** " line containing the nick
 *               means "joined"; a "!!! " line means the nick was refused.
 *               A chat line "text" is relayed to EVERYONE in the sender's room
 *               (sender included) as "<nick> text".  Self-echo is ignored.
 *   irc         NICK/USER, wait for 001, JOIN #chan, wait for 366 (end of NAMES)
 *               naming #chan, then "PRIVMSG #chan :text".  PING is answered with
 *               PONG.  Only JOINs to #chan count as join notices: channels the
 *               server joins a client to by itself (a lobby) are ignored.
 *
 * Rooms (--rooms K, default 1 = one room, everything as described above)
 *   Client i is in room i % K; the senders are still clients 0..S-1 (with S = K,
 *   one sender per room).  A message is expected by every other member of its
 *   sender's room, and only same-room (recipient, sender) pairs are counted
 *   (deliveries, latency, loss, order).  A marker line from a sender of another
 *   room is not counted: it is a protocol error ("cross_room").
 *   irc         client i JOINs <--channel><room> (#bench17) instead of --channel,
 *               and is joined on the 366 naming that channel.
 *   littlecats  once the nick is accepted the client sends --lc-join with %d =
 *               its room ("/join #bench%d"); the last word of that command is the
 *               room's name, and the first line received afterwards that contains
 *               it as a word ("*** lcb00017 entrou na sala #bench17.") means
 *               "room joined": only then is the client counted as joined.
 *               A "!!! " line instead means the server refused the join.
 *
 * Web clients (--web-clients N, littlecats only; docs/WEB.md of the littlecats repository)
 *   The LAST N clients connect to --web-port (same --host) and speak the web door's
 *   JSON protocol over a WebSocket at --web-path (/ws) instead of telnet; they never
 *   send chat (the senders 0..S-1 must all be telnet clients).  A web client sends the
 *   HTTP/1.1 upgrade (Host, Upgrade, Connection, a random Sec-WebSocket-Key,
 *   Sec-WebSocket-Version 13, no Origin: a bot, which the door allows), reads the
 *   response up to the blank line and only checks its status is 101 (the
 *   Sec-WebSocket-Accept value is NOT verified: no SHA-1 here).  Then it parses
 *   server frames (FIN/opcode, 7/16/64-bit lengths, continuation frames joined into
 *   one message, ping answered with a masked pong, close answered with a close and
 *   the connection closed) and sends masked text frames.  Each server message is a
 *   JSON array of events.  Protocol: on the "hello" event it sends
 *   {"type":"nick","nick":"<nick>"}; an event "type":"welcome" means the nick was
 *   accepted (joined, with --rooms 1); with --rooms K > 1 it then sends
 *   {"type":"join","room":"#bench<r>"} (the room named as by --lc-join) and is joined
 *   on the "entered" event whose "room" is that room.  Before joining, a "notice"
 *   whose "msgid" starts with "err-", or a "password" event, means refused.  Once
 *   joined, every marker (below) found anywhere in a received message counts as one
 *   delivery, as for a telnet line (a message carries many: one "said" event per
 *   chat line of the server's turn); latency is taken when the whole message has
 *   arrived.  Join notices: every "connected" event counts as one notice for SETTLE,
 *   as a telnet "*** " line (a web client gets its own "connected" too, after its
 *   "welcome", so one room still expects N(N+1)/2 notices in all).
 *
 * Every chat message carries a marker  LCB:<sender>:<seq>:<send_ns>:  followed by
 * 'x' padding up to --payload bytes.  send_ns is CLOCK_MONOTONIC at send time,
 * so latency = receive time - send_ns (same host, same clock).  The marker is
 * searched anywhere in a received line, so any server line format works.
 *
 * Run phases (each bounded in time; the process always stops by itself):
 *   CONNECT  open --clients connections (--connect-rate per second, at most
 *            --max-pending handshakes in flight), until all joined or
 *            --join-timeout.
 *   SETTLE   wait until the O(N^2) join notices have all arrived (expected
 *            N(N+1)/2 "*** "/JOIN lines) or no notice for --settle-quiet s, or
 *            --settle-timeout.  Server RSS is sampled here ("after join").
 *            With --rooms K > 1 the number of notices depends on the server
 *            (lobby, room and connect notices), so SETTLE ends only on
 *            --settle-quiet / --settle-timeout ("notices_expected": null,
 *            "settle_complete": false).
 *   WARMUP   senders send, nothing is recorded   (--warmup s)
 *   MEASURE  senders send, everything recorded   (--duration s)
 *   DRAIN    senders stop; wait until every expected delivery arrived or --drain s
 *   HOLD     keep connections open --hold s (idle capacity tests), then exit.
 *
 * Sending modes
 *   --rate R > 0   open loop: each sender sends R msgs/s on a fixed schedule.
 *   --rate 0       closed loop: each sender keeps --window W messages in flight;
 *                  a message stops being in flight when the designated receiver
 *                  (the last client, never a sender) has received it.  With
 *                  rooms, each room's designated receiver is its last member,
 *                  which must not be a sender (else lcbench refuses to start).
 *   --ramp A:F:B   open-loop ramp on ONE set of connections: steps at per-sender
 *                  rates A, A*F, A*F^2 ... <= B, each step WARMUP+MEASURE+DRAIN.
 *                  A step passes when latency p99 <= --ramp-p99-ms, every
 *                  expected delivery arrived within --drain s, no connection was
 *                  dropped, no send was blocked and (rooms) no line crossed
 *                  rooms.  The ramp stops at the first failing step (if the
 *                  very first step fails it steps down, at most 4 times, until
 *                  one passes), then --ramp-refine more steps bisect
 *                  (geometrically) between the best pass and the lowest fail,
 *                  as long as the backlog drained.  The best passing step is
 *                  reported as "traffic"; all steps are listed in "steps".
 *
 * Metrics (one JSON object on stdout at the end; progress on stderr)
 *   deliveries/s   chat lines received by clients other than their sender
 *                  (in the sender's room), counted by receive time inside the
 *                  MEASURE window.  "offered" = messages sent in the window x
 *                  their room's recipients other than the sender, per second.
 *   latency        histogram (1.6% resolution) over deliveries of messages
 *                  sent inside the MEASURE window (including late arrivals
 *                  during DRAIN, so a growing backlog shows up).
 *   loss           for every (recipient, sender) pair of the same room, messages
 *                  the sender sent minus messages that recipient received,
 *                  after DRAIN.
 *   order          a seq lower than or equal to the last one seen from the
 *                  same sender by the same recipient (reorder or duplicate).
 *   join           time for all clients to be joined, per-client handshake
 *                  latency, time until all join notices were delivered.
 *   server         VmRSS / VmHWM from /proc/<pid>/status, CPU from
 *                  /proc/<pid>/stat, when --server-pid is given.
 *   generator      own CPU use per phase (if ~100% the generator is the
 *                  bottleneck and the figure is a lower bound for the server).
 *   host           per-CPU busy% and steal% from /proc/stat (on a VM, steal is
 *                  CPU time the hypervisor took away: high steal = noisy figure).
 *   config         the options, including "rooms" (K) and, for littlecats with
 *                  K > 1, "lc_join".  With K > 1 "traffic" has "cross_room_total"
 *                  and every step "cross_room" (a step with any fails).
 *   by_door        in "traffic" and in every step: {"telnet": {...}, "web": {...}},
 *                  each with its clients, recipients, deliveries (in MEASURE),
 *                  deliveries_per_s, offered_deliveries_per_s, latency_ms (p50, p90,
 *                  p99, max ...), missing_after_drain; in "traffic" also the loss
 *                  over the whole run (expected, received, lost, as lost_total), the
 *                  connections closed after joining / failed, and the bytes received.
 *                  The totals elsewhere are over both doors.  The web entry also counts
 *                  WebSocket messages, frames, pings and closes received.
 *                  With --web-clients 0 "telnet" repeats the totals and "web" is 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL
#define RBUF_SIZE (256 * 1024)  /* shared read buffer                        */
#define CARRY_MAX 8192          /* longest line kept across reads            */
#define OUT_LIMIT (1 << 20)     /* per-connection pending output cap         */
#define MAXEV 1024

/* ------------------------------------------------------------------ options */

enum proto { P_LC, P_IRC };

static struct {
    enum proto proto;
    const char *host;
    int port;
    int clients;
    int senders;
    double rate;         /* msgs/s per sender, 0 = closed loop           */
    int window;          /* closed loop: in-flight msgs per sender        */
    double duration, warmup, drain, hold;
    double connect_rate; /* conns/s, 0 = unlimited                        */
    int max_pending;     /* handshakes in flight, 0 = unlimited           */
    double join_timeout, settle_timeout, settle_quiet;
    int payload;
    int server_pid;
    const char *channel;
    const char *nick_prefix;
    int irc_join;          /* 1 = JOIN the channel after 001               */
    int irc_echo;          /* 1 = ask for IRCv3 echo-message: a sender gets its own lines back, as on telnet
                            * (counted as self_echo, never as a delivery) */
    const char *lc_prompt; /* substring marking the prompt; NULL = 1st line */
    int src_ips;           /* spread local addresses over 127.0.0.1..N      */
    int rooms;             /* client i is in room i % rooms                 */
    const char *lc_join;   /* littlecats, rooms > 1: room-join command      */
    double ramp_start, ramp_factor, ramp_max; /* ramp_start > 0 = ramp mode */
    double ramp_p99_ms;
    int ramp_refine;
    double max_runtime;
    const char *label;
    double progress;
    int quiet;
    int web_clients;      /* the last N clients use the web door (WebSocket) */
    int web_port;
    const char *web_path;
} opt = {
    .proto = P_LC, .host = "127.0.0.1", .port = 4000, .clients = 100,
    .senders = 10, .rate = 50, .window = 1, .duration = 10, .warmup = 2,
    .drain = 5, .hold = 0, .connect_rate = 0, .max_pending = 100,
    .join_timeout = 180, .settle_timeout = 120, .settle_quiet = 2.0,
    .payload = 64, .server_pid = 0, .channel = "#bench", .nick_prefix = "lcb",
    .irc_join = 1, .lc_prompt = NULL, .src_ips = 1, .rooms = 1, .lc_join = "/join #bench%d",
    .ramp_start = 0, .ramp_factor = 1.5, .ramp_max = 1000, .ramp_p99_ms = 250, .ramp_refine = 2,
    .max_runtime = 900, .label = "", .progress = 5, .quiet = 0,
    .web_clients = 0, .web_port = 8080, .web_path = "/ws",
};

/* ------------------------------------------------------------------- clock */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_self_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NS_PER_S +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

/* -------------------------------------------------------------- histograms */
/* Log-linear histogram of microseconds: exact below 64 us, then 64 sub-buckets
 * per power of two (relative error < 1.6%).  4096 buckets cover > 2^69 us. */

#define HSUB_BITS 6
#define HSUB (1 << HSUB_BITS)
#define HBUCKETS 4096

struct hist {
    uint64_t b[HBUCKETS];
    uint64_t count, max_us, sum_us;
};

static inline int hist_index(uint64_t v)
{
    if (v < HSUB) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int k = msb - HSUB_BITS; /* >= 0 */
    int idx = HSUB + k * HSUB + (int)((v >> k) - HSUB);
    return idx < HBUCKETS ? idx : HBUCKETS - 1;
}

static inline uint64_t hist_value(int idx) /* representative (mid) value */
{
    if (idx < HSUB) return (uint64_t)idx;
    int k = (idx - HSUB) / HSUB;
    uint64_t top = (uint64_t)(HSUB + (idx - HSUB) % HSUB);
    return (top << k) + ((1ULL << k) >> 1);
}

static inline void hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->count++;
    h->sum_us += us;
    if (us > h->max_us) h->max_us = us;
}

static double hist_pct_ms(const struct hist *h, double p)
{
    if (!h->count) return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->count);
    if (want >= h->count) want = h->count - 1;
    uint64_t acc = 0;
    for (int i = 0; i < HBUCKETS; i++) {
        acc += h->b[i];
        if (acc > want) {
            uint64_t v = hist_value(i);
            if (v > h->max_us) v = h->max_us;
            return (double)v / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* --------------------------------------------------------- /proc sampling */

static long proc_status_kb(int pid, const char *key)
{
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* utime + stime of the whole process (all threads), in seconds */
static double proc_cpu_s(int pid)
{
    if (pid <= 0) return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* now at field 3 (state) */
    unsigned long long ut = 0, stt = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        if (field == 14) ut = strtoull(p, NULL, 10);
        if (field == 15) stt = strtoull(p, NULL, 10);
        p = strchr(p, ' ');
        if (!p) break;
        p++;
    }
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* Per-CPU jiffies from /proc/stat: busy (user+nice+system+irq+softirq),
 * idle (idle+iowait) and steal (taken by the hypervisor). */
#define MAXCPU 16
struct cpusnap {
    int n;
    unsigned long long busy[MAXCPU], idle[MAXCPU], steal[MAXCPU];
};

static void read_cpus(struct cpusnap *s)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "cpu", 3) || !isdigit((unsigned char)line[3])) continue;
        int id;
        unsigned long long u = 0, ni = 0, sy = 0, id_ = 0, io = 0, irq = 0, sirq = 0, stl = 0;
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &id, &u, &ni, &sy, &id_, &io, &irq, &sirq,
                   &stl) < 5 || id < 0 || id >= MAXCPU)
            continue;
        s->busy[id] = u + ni + sy + irq + sirq;
        s->idle[id] = id_ + io;
        s->steal[id] = stl;
        if (id + 1 > s->n) s->n = id + 1;
    }
    fclose(f);
}

/* prints  "busy_pct":[..],"steal_pct":[..]  between two snapshots */
static void json_cpus(const struct cpusnap *a, const struct cpusnap *b)
{
    int n = a->n < b->n ? a->n : b->n;
    for (int pass = 0; pass < 2; pass++) {
        printf(pass ? ",\"steal_pct\":[" : "\"busy_pct\":[");
        for (int i = 0; i < n; i++) {
            double busy = (double)(b->busy[i] - a->busy[i]), idle = (double)(b->idle[i] - a->idle[i]),
                   stl = (double)(b->steal[i] - a->steal[i]);
            double tot = busy + idle + stl;
            printf("%s%.1f", i ? "," : "", tot > 0 ? 100.0 * (pass ? stl : busy) / tot : 0.0);
        }
        printf("]");
    }
}


/* Kernel network counters (system-wide, so other traffic on the box counts too):
 * loopback packets dropped because a CPU's input backlog was full
 * (/proc/net/softnet_stat, net.core.netdev_max_backlog), TCP retransmissions,
 * RTO timeouts, tail-loss probes, accept-queue overflows, SYN retransmissions. */
struct kstat {
    unsigned long long softnet_drops, retrans_segs, timeouts, loss_probes, listen_overflows, syn_retrans;
};

/* value of `key` in a /proc/net/{snmp,netstat} "Prefix: names" / "Prefix: values" pair */
static unsigned long long proc_net_counter(const char *file, const char *prefix, const char *key)
{
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char names[4096], values[4096];
    unsigned long long v = 0;
    size_t pl = strlen(prefix);
    while (fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
        if (strncmp(names, prefix, pl) || strncmp(values, prefix, pl)) continue;
        char *sn, *sv;
        char *n = strtok_r(names + pl, " \n", &sn);
        char *val = strtok_r(values + pl, " \n", &sv);
        while (n && val) {
            if (!strcmp(n, key)) { v = strtoull(val, NULL, 10); break; }
            n = strtok_r(NULL, " \n", &sn);
            val = strtok_r(NULL, " \n", &sv);
        }
        break;
    }
    fclose(f);
    return v;
}

static void read_kstat(struct kstat *k)
{
    memset(k, 0, sizeof *k);
    FILE *f = fopen("/proc/net/softnet_stat", "r");
    if (f) {
        unsigned int processed, dropped;
        char line[512];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "%x %x", &processed, &dropped) == 2) k->softnet_drops += dropped;
        fclose(f);
    }
    k->retrans_segs = proc_net_counter("/proc/net/snmp", "Tcp:", "RetransSegs");
    k->timeouts = proc_net_counter("/proc/net/netstat", "TcpExt:", "TCPTimeouts");
    k->loss_probes = proc_net_counter("/proc/net/netstat", "TcpExt:", "TCPLossProbes");
    k->listen_overflows = proc_net_counter("/proc/net/netstat", "TcpExt:", "ListenOverflows");
    k->syn_retrans = proc_net_counter("/proc/net/netstat", "TcpExt:", "TCPSynRetrans");
}

/* prints  "softnet_drops":..,"tcp_retrans_segs":..,...  (b - a) */
static void json_kstat(const struct kstat *a, const struct kstat *b)
{
    printf("\"softnet_drops\":%llu,\"tcp_retrans_segs\":%llu,\"tcp_timeouts\":%llu,\"tcp_loss_probes\":%llu,"
           "\"listen_overflows\":%llu,\"syn_retrans\":%llu",
           b->softnet_drops - a->softnet_drops, b->retrans_segs - a->retrans_segs, b->timeouts - a->timeouts,
           b->loss_probes - a->loss_probes, b->listen_overflows - a->listen_overflows,
           b->syn_retrans - a->syn_retrans);
}

/* ------------------------------------------------------------- connections */

enum cstate {
    CS_IDLE = 0,   /* not launched yet */
    CS_CONNECTING, /* TCP connect in progress */
    CS_GREETING,   /* littlecats: waiting for the prompt */
    CS_NICK_SENT,  /* littlecats: nick sent / irc: NICK+USER sent */
    CS_JOINING,    /* irc: JOIN sent, waiting for 366 / littlecats, rooms > 1: --lc-join sent */
    CS_JOINED,     /* ready */
    CS_FAILED,     /* refused / error before joining */
    CS_CLOSED,     /* closed by the server after joining */
};

struct conn {
    int fd;
    uint8_t state;
    uint8_t recipient; /* counted as a recipient for loss accounting */
    uint16_t carry_len;
    char *carry; /* partial line, allocated on first use */
    char *out;   /* pending output (rare) */
    uint32_t out_len, out_off, out_cap;
    uint64_t t_start, t_joined;
    char nick[32];
    uint8_t nick_len;
};

struct sender {
    uint32_t next_seq;      /* seq of the next message */
    uint32_t acked;         /* closed loop: messages seen by the designated receiver */
    uint64_t next_send;     /* open loop: scheduled time of the next message */
    uint64_t last_progress; /* closed loop: time of last ack progress */
};

enum phase { PH_CONNECT, PH_SETTLE, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD, PH_DONE };
static const char *phase_name[] = {"connect", "settle", "warmup", "measure", "drain", "hold", "done"};

static struct conn *conns;
static struct sender *senders;
static uint32_t *recv_cnt;  /* [recipient * S + sender] messages received */
static uint32_t *recv_last; /* [recipient * S + sender] last seq + 1 (0 = none) */
static int epfd;
static char *rbuf;
static enum phase phase = PH_CONNECT;
/* Rooms (--rooms K): client i is in room i % K.  K = 1 is the single room of
 * the protocols above (irc: --channel itself, littlecats: no join command). */
static char (*room_name)[64]; /* [K] irc: <channel><r> (K = 1: <channel>); littlecats: last word of --lc-join */
static int *room_receiver;    /* [K] closed loop: designated receiver, the room's last member */
static uint32_t *fanout;      /* [S] recipients expecting each message of sender s (same room, not s) */
static uint32_t *fanout_web;  /* [S] how many of those are web clients */
#define ROOM(i) ((i) % opt.rooms)
/* Web clients are the last --web-clients ones: client i is one when i >= web_first
 * (web_first = --clients with no web client, so the test is always false then). */
static int web_first;
#define IS_WEB(i) ((i) >= web_first)
static volatile sig_atomic_t interrupted;

/* cumulative counters */
static struct {
    int launched, connected, joined, failed, refused, closed_after_join;
    int connect_errors, pending;
    uint64_t notices; /* "*** " (littlecats) or JOIN (irc) lines */
    uint64_t t_last_notice;
    uint64_t lines, bytes_in, long_lines;
    uint64_t deliveries_total; /* deliveries to recipients other than the sender */
    uint64_t self_echo;
    uint64_t order_violations, gaps;
    uint64_t cross_room; /* marker lines from a sender of another room (K > 1), not counted */
    uint64_t msgs_sent, send_blocked, lag_resets, stalls;
    uint64_t pings;
    uint64_t protocol_errors;
    char first_error[160];
    /* web door (only counted with --web-clients > 0) */
    uint64_t deliveries_web, bytes_in_web;
    uint64_t ws_frames, ws_messages, ws_pings, ws_closes;
    char ws_first_close[128]; /* the first close frame received: client, code, reason */
} st;

/* One measurement step: WARMUP + MEASURE + DRAIN at one sending rate. */
#define MAX_STEPS 48
struct step {
    double rate;                   /* per-sender msgs/s (0 = closed loop) */
    uint64_t t_warm, t_m0, t_m1, t_drain_end, t_done;
    uint64_t msgs_window;          /* messages sent inside MEASURE */
    uint64_t offered_window;       /* sum of their fan-outs (expected deliveries) */
    uint64_t deliveries_window;    /* deliveries received inside MEASURE */
    struct hist lat;               /* messages sent inside MEASURE */
    /* web door: the same, for web recipients (telnet = total - web); per-door
     * latency only with --web-clients > 0 ([0] telnet, [1] web) */
    uint64_t offered_window_web, deliveries_window_web, missing_door[2];
    struct hist lat_door[2];
    uint64_t gen_cpu0, gen_cpu1;   /* generator CPU at m0 / m1 */
    double srv_cpu0, srv_cpu1;     /* server CPU at m0 / m1 */
    struct cpusnap cs0, cs1;       /* /proc/stat at m0 / m1 */
    struct kstat k0, k1;           /* kernel counters at warmup start / step end */
    uint64_t c0_blocked, c0_viol, c0_closed, c0_lag, c0_stalls, c0_cross; /* counters at warmup start */
    uint64_t d_blocked, d_viol, d_closed, d_lag, d_stalls, d_cross;       /* deltas at the end */
    uint64_t missing;              /* expected - received (cumulative) after drain */
    int drain_complete;
    int pass;
};
static struct step *steps;
static int n_steps;          /* steps started */
static struct step *cur;     /* current step or NULL */
static double ramp_best_pass = 0, ramp_low_fail = 0;
static int ramp_refines_left, ramp_stop_reason_set;
static char ramp_stop_reason[96];

static struct hist hs_hist; /* handshake latency */

/* timeline */
static uint64_t t_begin, t_all_joined, t_settled, t_hold_end, t_end;
static uint64_t cpu_at_begin, cpu_at_joined, cpu_at_end;
static double srv_cpu_begin = -1, srv_cpu_joined = -1;
static struct cpusnap cs_begin, cs_joined;
static struct kstat ks_begin, ks_joined, ks_end;
static long rss_start = -1, rss_joined = -1, rss_end = -1, hwm_end = -1;
static int join_complete = 0, settle_complete = 0, aborted = 0;

static void note_error(const char *fmt, ...)
{
    st.protocol_errors++;
    if (st.first_error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.first_error, sizeof st.first_error, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ output path */

static void conn_close(int i);

static int flush_out(int i)
{
    struct conn *c = &conns[i];
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) { c->out_off += (uint32_t)n; continue; }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n < 0 && errno == EINTR) continue;
        conn_close(i);
        return -1;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Send (or queue) bytes on connection i.  Returns -1 if the connection died. */
static int conn_write(int i, const char *data, size_t len)
{
    struct conn *c = &conns[i];
    if (c->fd < 0) return -1;
    if (c->out_len == c->out_off) {
        c->out_len = c->out_off = 0;
        for (;;) {
            ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n == (ssize_t)len) return 0;
            if (n > 0) { data += n; len -= (size_t)n; continue; }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            conn_close(i);
            return -1;
        }
    }
    if (c->out_len + len > c->out_cap) {
        uint32_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len) cap *= 2;
        char *nb = realloc(c->out, cap);
        if (!nb) { perror("realloc"); exit(2); }
        c->out = nb;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += (uint32_t)len;
    return 0;
}

static int conn_printf(int i, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if (n >= (int)sizeof buf) n = sizeof buf - 1;
    return conn_write(i, buf, (size_t)n);
}

/* ------------------------------------------------------- connection state */

static void drop_fd(struct conn *c)
{
    if (c->fd < 0) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* the server closed the connection (or it broke) */
static void conn_close(int i)
{
    struct conn *c = &conns[i];
    if (c->fd < 0) return;
    drop_fd(c);
    if (c->state == CS_JOINED || c->state == CS_CLOSED) {
        st.closed_after_join++;
        c->state = CS_CLOSED;
    } else if (c->state != CS_FAILED) {
        note_error("client %d: connection closed by the server before joining (%s)", i,
                   errno ? strerror(errno) : "EOF");
        st.failed++;
        st.pending--;
        c->state = CS_FAILED;
    }
}

static void mark_joined(int i, uint64_t now)
{
    struct conn *c = &conns[i];
    if (c->state == CS_JOINED) return;
    c->state = CS_JOINED;
    c->t_joined = now;
    st.joined++;
    st.pending--;
    hist_add(&hs_hist, (now - c->t_start) / 1000);
}

/* refused or broken before joining */
static void mark_failed(int i, const char *why, const char *line, size_t len)
{
    struct conn *c = &conns[i];
    if (c->state == CS_FAILED || c->state == CS_JOINED || c->state == CS_CLOSED) return;
    if (!strcmp(why, "refused")) st.refused++;
    note_error("client %d %s: %.*s", i, why, (int)(len > 100 ? 100 : len), line ? line : "");
    c->state = CS_FAILED;
    st.failed++;
    st.pending--;
    drop_fd(c);
}

/* ---------------------------------------------------------- sending chat */

static char payload_pad[4096];

/* Build and send one chat message from sender s. Returns 1 if sent. */
static int send_chat(int s, uint64_t now)
{
    struct conn *c = &conns[s];
    if (c->fd < 0 || c->state != CS_JOINED) return 0;
    if (c->out_len - c->out_off > OUT_LIMIT) { st.send_blocked++; return 0; }
    char buf[4096 + 256];
    int n = 0;
    if (opt.proto == P_IRC) n = snprintf(buf, sizeof buf, "PRIVMSG %s :", room_name[ROOM(s)]);
    struct sender *sd = &senders[s];
    int m = snprintf(buf + n, sizeof buf - (size_t)n, "LCB:%d:%u:%llu:", s, sd->next_seq, (unsigned long long)now);
    n += m;
    if (m < opt.payload) { memcpy(buf + n, payload_pad, (size_t)(opt.payload - m)); n += opt.payload - m; }
    buf[n++] = '\r';
    buf[n++] = '\n';
    if (conn_write(s, buf, (size_t)n) < 0) return 0;
    sd->next_seq++;
    st.msgs_sent++;
    if (phase == PH_MEASURE && cur) {
        cur->msgs_window++;
        cur->offered_window += fanout[s];
        cur->offered_window_web += fanout_web[s];
    }
    return 1;
}

static void closed_loop_fill(int s, uint64_t now)
{
    struct sender *sd = &senders[s];
    while (sd->next_seq - sd->acked < (uint32_t)opt.window) {
        if (!send_chat(s, now)) break;
    }
}

static void pump_senders(uint64_t now)
{
    if ((phase != PH_WARMUP && phase != PH_MEASURE) || !cur) return;
    if (cur->rate > 0) {
        uint64_t interval = (uint64_t)((double)NS_PER_S / cur->rate);
        for (int s = 0; s < opt.senders; s++) {
            struct sender *sd = &senders[s];
            int burst = 0;
            while (sd->next_send <= now && burst < 1000) {
                if (now - sd->next_send > NS_PER_S) { /* fell > 1 s behind: re-anchor */
                    sd->next_send = now;
                    st.lag_resets++;
                }
                send_chat(s, now); /* if blocked, the slot is skipped (counted) */
                sd->next_send += interval;
                burst++;
            }
        }
    } else {
        for (int s = 0; s < opt.senders; s++) {
            struct sender *sd = &senders[s];
            if (sd->next_seq != sd->acked && now - sd->last_progress > 5 * NS_PER_S) {
                /* nothing acked for 5 s: assume lost, let the sender continue */
                sd->acked = sd->next_seq;
                sd->last_progress = now;
                st.stalls++;
            }
            closed_loop_fill(s, now);
        }
    }
}

/* ------------------------------------------------------------ line parsing */

static inline int parse_u64(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    int any = 0;
    while (p < end && *p >= '0' && *p <= '9') { v = v * 10 + (uint64_t)(*p - '0'); p++; any = 1; }
    *pp = p;
    *out = v;
    return any;
}

/* A chat line carrying our marker was received by connection r. */
static void on_marker(int r, const char *m, const char *end, uint64_t now)
{
    const char *p = m + 4; /* after "LCB:" */
    uint64_t s, seq, ts;
    if (!parse_u64(&p, end, &s) || p >= end || *p++ != ':') return;
    if (!parse_u64(&p, end, &seq) || p >= end || *p++ != ':') return;
    if (!parse_u64(&p, end, &ts)) return;
    if (s >= (uint64_t)opt.senders) return;
    if ((int)s == r) { st.self_echo++; return; } /* littlecats self-echo: ignored */
    if (ROOM((int)s) != ROOM(r)) { /* the server leaked a message into another room */
        st.cross_room++;
        note_error("client %d (room %d) received a message of sender %d (room %d)", r, ROOM(r), (int)s,
                   ROOM((int)s));
        return;
    }
    if (!conns[r].recipient) return;

    size_t k = (size_t)r * (size_t)opt.senders + s;
    recv_cnt[k]++;
    uint32_t expect = recv_last[k];
    if ((uint32_t)seq + 1 <= expect) st.order_violations++; /* went backwards / duplicate */
    else {
        if ((uint32_t)seq > expect) st.gaps++; /* skipped ahead (loss or reorder) */
        recv_last[k] = (uint32_t)seq + 1;
    }
    st.deliveries_total++;
    int web = IS_WEB(r);
    if (web) st.deliveries_web++;
    if (cur) {
        if (phase == PH_MEASURE) {
            cur->deliveries_window++;
            if (web) cur->deliveries_window_web++;
        }
        if (cur->t_m0 && ts >= cur->t_m0 && (cur->t_m1 == 0 || ts < cur->t_m1) && now >= ts) {
            uint64_t us = (now - ts) / 1000;
            hist_add(&cur->lat, us);
            if (opt.web_clients) hist_add(&cur->lat_door[web], us);
        }
    }

    if (r == room_receiver[ROOM(r)] && cur && cur->rate <= 0) {
        struct sender *sd = &senders[s];
        if ((uint32_t)seq + 1 > sd->acked && (uint32_t)seq < sd->next_seq) {
            sd->acked = (uint32_t)seq + 1;
            sd->last_progress = now;
        }
        if (phase == PH_WARMUP || phase == PH_MEASURE) closed_loop_fill((int)s, now);
    }
}

static inline const char *find_marker(const char *line, size_t len)
{
    return memmem(line, len, "LCB:", 4);
}

/* does `line` contain nick (or a room name) as a whole word (not next to an alnum)? */
static int line_has_nick(const char *line, size_t len, const char *nick, size_t nl)
{
    const char *p = line, *end = line + len;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), nick, nl);
        if (!q) return 0;
        const char *after = q + nl;
        int before_ok = (q == line) || !isalnum((unsigned char)q[-1]);
        int after_ok = (after >= end) || !isalnum((unsigned char)*after);
        if (before_ok && after_ok) return 1;
        p = q + 1;
    }
    return 0;
}

/* --lc-join for room r: its first "%d" replaced by r */
static int lc_join_cmd(int r, char *buf, size_t size)
{
    const char *f = opt.lc_join, *d = strstr(f, "%d");
    int n = d ? snprintf(buf, size, "%.*s%d%s", (int)(d - f), f, r, d + 2) : snprintf(buf, size, "%s", f);
    return n < 0 ? 0 : n >= (int)size ? (int)size - 1 : n;
}

static void lc_line(int i, char *line, size_t len, uint64_t now)
{
    struct conn *c = &conns[i];
    if (c->state == CS_JOINED) {
        if (len >= 4 && !memcmp(line, "*** ", 4)) {
            st.notices++;
            st.t_last_notice = now;
            return;
        }
        const char *m = find_marker(line, len);
        if (m) on_marker(i, m, line + len, now);
        return;
    }
    if (c->state == CS_GREETING) {
        if (len >= 4 && !memcmp(line, "!!! ", 4)) { mark_failed(i, "refused", line, len); return; }
        if (opt.lc_prompt && !memmem(line, len, opt.lc_prompt, strlen(opt.lc_prompt))) return;
        c->state = CS_NICK_SENT;
        char buf[64];
        int n = snprintf(buf, sizeof buf, "%s\r\n", c->nick);
        conn_write(i, buf, (size_t)n);
        return;
    }
    if (c->state == CS_NICK_SENT) {
        if (len >= 4 && !memcmp(line, "!!! ", 4)) { mark_failed(i, "refused", line, len); return; }
        if (len >= 4 && !memcmp(line, "*** ", 4)) {
            st.notices++;
            st.t_last_notice = now;
            if (line_has_nick(line, len, c->nick, c->nick_len)) {
                if (opt.rooms == 1) { mark_joined(i, now); return; }
                /* nick accepted: now the room-join command */
                char buf[300];
                int n = lc_join_cmd(ROOM(i), buf, sizeof buf - 2);
                buf[n++] = '\r';
                buf[n++] = '\n';
                c->state = CS_JOINING;
                conn_write(i, buf, (size_t)n);
            }
        }
        return;
    }
    if (c->state == CS_JOINING) { /* rooms > 1: the first line naming the room means "room joined" */
        if (len >= 4 && !memcmp(line, "!!! ", 4)) { mark_failed(i, "refused", line, len); return; }
        if (len >= 4 && !memcmp(line, "*** ", 4)) {
            st.notices++;
            st.t_last_notice = now;
        }
        const char *rn = room_name[ROOM(i)];
        if (line_has_nick(line, len, rn, strlen(rn))) mark_joined(i, now);
    }
}

/* Whether the channel at p (the first word, a leading ':' skipped) is client i's own:
 * <--channel>, or with --rooms K > 1 <--channel><room>. */
static int irc_is_own_channel(int i, const char *p, const char *end)
{
    if (p < end && *p == ':') p++;
    const char *ch = p;
    while (p < end && *p != ' ') p++;
    const char *rn = room_name[ROOM(i)];
    return (size_t)(p - ch) == strlen(rn) && !strncasecmp(ch, rn, (size_t)(p - ch));
}

static void irc_line(int i, char *line, size_t len, uint64_t now)
{
    struct conn *c = &conns[i];
    const char *p = line, *end = line + len;
    if (p < end && *p == ':') { /* skip prefix */
        while (p < end && *p != ' ') p++;
        while (p < end && *p == ' ') p++;
    }
    const char *cmd = p;
    while (p < end && *p != ' ') p++;
    size_t cl = (size_t)(p - cmd);
    while (p < end && *p == ' ') p++;

#define CMD_IS(s) (cl == sizeof(s) - 1 && !memcmp(cmd, s, sizeof(s) - 1))
    if (CMD_IS("PRIVMSG") || CMD_IS("NOTICE")) {
        const char *m = find_marker(p, (size_t)(end - p));
        if (m) on_marker(i, m, end, now);
        return;
    }
    if (CMD_IS("JOIN")) {
        /* Only a JOIN to this client's own channel is a join notice: a server may also
         * join clients to channels of its own (littlecats's IRC door: #lobby on
         * registration).  Every JOIN still counts as activity for --settle-quiet. */
        st.t_last_notice = now;
        if (irc_is_own_channel(i, p, end)) st.notices++;
        return;
    }
    if (CMD_IS("PING")) {
        st.pings++;
        char buf[600];
        int n = snprintf(buf, sizeof buf, "PONG %.*s\r\n", (int)(end - p > 500 ? 500 : end - p), p);
        conn_write(i, buf, (size_t)n);
        return;
    }
    if (CMD_IS("001")) {
        if (c->state == CS_NICK_SENT) {
            if (opt.irc_join) {
                c->state = CS_JOINING;
                conn_printf(i, "JOIN %s\r\n", room_name[ROOM(i)]);
            } else {
                mark_joined(i, now);
            }
        }
        return;
    }
    if (CMD_IS("366")) {
        if (c->state != CS_JOINING) return;
        /* ":srv 366 <nick> <channel> :End of NAMES list": must be our own channel's, also
         * with one room (a server may have joined the client to another channel first) */
        while (p < end && *p != ' ') p++; /* skip <nick> */
        while (p < end && *p == ' ') p++;
        if (!irc_is_own_channel(i, p, end)) return;
        mark_joined(i, now);
        return;
    }
    if (CMD_IS("ERROR")) {
        if (c->state == CS_JOINED) note_error("client %d: %.*s", i, (int)(len > 100 ? 100 : len), line);
        else mark_failed(i, "error", line, len);
        return;
    }
    if (c->state != CS_JOINED && (CMD_IS("432") || CMD_IS("433") || CMD_IS("436") || CMD_IS("437") ||
                                  CMD_IS("465") || CMD_IS("471") || CMD_IS("473") || CMD_IS("474") ||
                                  CMD_IS("475") || CMD_IS("405") || CMD_IS("403"))) {
        mark_failed(i, "refused", line, len);
        return;
    }
#undef CMD_IS
}

/* ------------------------------------------------------ web door clients */
/* WebSocket (RFC 6455) client side, just enough for the littlecats web door:
 * see "Web clients" at the top.  Only the --web-clients last clients use it. */

#define WS_READ_MIN (64 * 1024)    /* free space ensured before each read()            */
#define WS_MSG_MAX (64u << 20)     /* larger frames / messages: protocol error, closed */
#define WS_HTTP_MAX 16384          /* longest upgrade response header                   */

struct ws {
    char *buf;                 /* bytes received and not parsed yet (a partial frame) */
    uint32_t len, cap;
    char *msg;                 /* a fragmented message being assembled */
    uint32_t msg_len, msg_cap;
    uint8_t http_done;         /* the 101 response has been read */
    uint8_t in_frag;           /* a text/binary frame without FIN was received */
};
static struct ws *wss; /* [--web-clients] */
#define WS(i) (&wss[(i) - web_first])
static struct sockaddr_in web_addr;
static uint64_t rng_state;
static struct sockaddr_in server_addr;

static uint64_t rng_next(void) /* xorshift64*: mask keys and Sec-WebSocket-Key, not crypto */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t k = 0; k < n; k += 3) {
        uint32_t v = (uint32_t)in[k] << 16;
        if (k + 1 < n) v |= (uint32_t)in[k + 1] << 8;
        if (k + 2 < n) v |= in[k + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = k + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = k + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* one masked frame (FIN set) from client i */
static int ws_send(int i, int opcode, const char *data, size_t len)
{
    char stackbuf[1024];
    size_t hdr = len < 126 ? 6 : len <= 0xffff ? 8 : 14;
    char *f = hdr + len <= sizeof stackbuf ? stackbuf : malloc(hdr + len);
    if (!f) { perror("malloc"); exit(2); }
    unsigned char *u = (unsigned char *)f;
    u[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    size_t k = 2;
    if (len < 126) u[1] = (unsigned char)(0x80 | len);
    else if (len <= 0xffff) {
        u[1] = 0x80 | 126;
        u[2] = (unsigned char)(len >> 8);
        u[3] = (unsigned char)len;
        k = 4;
    } else {
        u[1] = 0x80 | 127;
        for (int b = 0; b < 8; b++) u[2 + b] = (unsigned char)((uint64_t)len >> (56 - 8 * b));
        k = 10;
    }
    uint32_t key = (uint32_t)rng_next();
    unsigned char mask[4] = {(unsigned char)(key >> 24), (unsigned char)(key >> 16), (unsigned char)(key >> 8),
                             (unsigned char)key};
    memcpy(u + k, mask, 4);
    k += 4;
    for (size_t b = 0; b < len; b++) u[k + b] = (unsigned char)data[b] ^ mask[b & 3];
    int r = conn_write(i, f, k + len);
    if (f != stackbuf) free(f);
    return r;
}

static int ws_send_text(int i, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if (n >= (int)sizeof buf) n = sizeof buf - 1;
    return ws_send(i, 0x1, buf, (size_t)n);
}

static void ws_on_connected(int i)
{
    unsigned char key[16];
    for (int k = 0; k < 16; k += 8) {
        uint64_t v = rng_next();
        memcpy(key + k, &v, 8);
    }
    char key64[32];
    base64(key, sizeof key, key64);
    conn_printf(i,
                "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                opt.web_path, opt.host, opt.web_port, key64);
}

/* --- a minimal JSON reader, for the events of the join phase only --- */

static const char *js_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static const char *js_string_end(const char *p, const char *end) /* p at '"': after the closing '"' */
{
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return NULL;
}

static const char *js_skip_value(const char *p, const char *end)
{
    p = js_ws(p, end);
    if (p >= end) return NULL;
    if (*p == '"') return js_string_end(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = js_string_end(p, end);
                if (!p) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n') p++; /* number, literal */
    return p;
}

/* the fields of one event that the join phase needs (raw string contents, no unescaping) */
struct ws_event {
    const char *start, *end; /* the whole object */
    const char *type, *room, *msgid, *nick;
    int type_len, room_len, msgid_len, nick_len;
};

/* parse the object at p ('{'); returns a pointer after it, NULL if malformed */
static const char *js_event(const char *p, const char *end, struct ws_event *e)
{
    memset(e, 0, sizeof *e);
    e->start = p;
    if (p >= end || *p != '{') return NULL;
    p = js_ws(p + 1, end);
    if (p < end && *p == '}') { e->end = p + 1; return p + 1; }
    while (p < end) {
        if (*p != '"') return NULL;
        const char *k = p + 1, *ke = js_string_end(p, end);
        if (!ke) return NULL;
        size_t kl = (size_t)(ke - 1 - k);
        p = js_ws(ke, end);
        if (p >= end || *p != ':') return NULL;
        p = js_ws(p + 1, end);
        const char *v = p, *ve = js_skip_value(p, end);
        if (!ve) return NULL;
        if (*v == '"') {
            const char **slot = NULL;
            int *slot_len = NULL;
            if (kl == 4 && !memcmp(k, "type", 4)) slot = &e->type, slot_len = &e->type_len;
            else if (kl == 4 && !memcmp(k, "room", 4)) slot = &e->room, slot_len = &e->room_len;
            else if (kl == 5 && !memcmp(k, "msgid", 5)) slot = &e->msgid, slot_len = &e->msgid_len;
            else if (kl == 4 && !memcmp(k, "nick", 4)) slot = &e->nick, slot_len = &e->nick_len;
            if (slot) { *slot = v + 1; *slot_len = (int)(ve - v - 2); }
        }
        p = js_ws(ve, end);
        if (p < end && *p == ',') { p = js_ws(p + 1, end); continue; }
        if (p < end && *p == '}') { e->end = p + 1; return p + 1; }
        return NULL;
    }
    return NULL;
}

static int str_is(const char *s, int len, const char *lit)
{
    size_t n = strlen(lit);
    return s && (size_t)len == n && !memcmp(s, lit, n);
}

/* every marker in [p, end) is one delivery to client i */
static void ws_markers(int i, const char *p, const char *end, uint64_t now)
{
    while (p < end) {
        const char *m = memmem(p, (size_t)(end - p), "LCB:", 4);
        if (!m) return;
        on_marker(i, m, end, now);
        p = m + 4;
    }
}

/* does the quoted value "..." at q (pointing at its opening quote) belong to a "type" key? */
static int ws_is_type_value(const char *start, const char *q)
{
    const char *p = q - 1;
    while (p >= start && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p--;
    if (p < start || *p != ':') return 0;
    p--;
    while (p >= start && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p--;
    return p - 5 >= start && !memcmp(p - 5, "\"type\"", 6);
}

/* someone entered the chat: a join notice (the SETTLE phase counts them) */
static void ws_count_connected(const char *p, const char *end, uint64_t now)
{
    static const char pat[] = "\"connected\"";
    const char *start = p;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), pat, sizeof pat - 1);
        if (!q) return;
        if (ws_is_type_value(start, q)) {
            st.notices++;
            st.t_last_notice = now;
        }
        p = q + sizeof pat - 1;
    }
}

/* one event before the client is joined (or in the message that joined it) */
static void ws_event(int i, const struct ws_event *e, uint64_t now)
{
    struct conn *c = &conns[i];
    if (c->state == CS_JOINED) {
        if (str_is(e->type, e->type_len, "connected")) { st.notices++; st.t_last_notice = now; }
        ws_markers(i, e->start, e->end, now);
        return;
    }
    if (str_is(e->type, e->type_len, "notice") && e->msgid && e->msgid_len >= 4 && !memcmp(e->msgid, "err-", 4)) {
        mark_failed(i, "refused", e->start, (size_t)(e->end - e->start));
        return;
    }
    if (str_is(e->type, e->type_len, "password")) {
        mark_failed(i, "refused", e->start, (size_t)(e->end - e->start));
        return;
    }
    if (str_is(e->type, e->type_len, "connected")) { st.notices++; st.t_last_notice = now; return; }
    if (c->state == CS_GREETING && str_is(e->type, e->type_len, "hello")) {
        c->state = CS_NICK_SENT;
        ws_send_text(i, "{\"type\":\"nick\",\"nick\":\"%s\"}", c->nick);
        return;
    }
    if (c->state == CS_NICK_SENT && str_is(e->type, e->type_len, "welcome")) {
        if (opt.rooms == 1) { mark_joined(i, now); return; }
        c->state = CS_JOINING;
        ws_send_text(i, "{\"type\":\"join\",\"room\":\"%s\"}", room_name[ROOM(i)]);
        return;
    }
    if (c->state == CS_JOINING && str_is(e->type, e->type_len, "entered") &&
        str_is(e->room, e->room_len, room_name[ROOM(i)]))
        mark_joined(i, now);
}

/* one complete server message (a JSON array of events) for client i */
static void ws_message(int i, const char *p, size_t n, uint64_t now)
{
    struct conn *c = &conns[i];
    const char *end = p + n;
    st.ws_messages++;
    if (c->state == CS_JOINED) { /* the traffic path: no JSON parsing */
        ws_count_connected(p, end, now);
        ws_markers(i, p, end, now);
        return;
    }
    const char *q = js_ws(p, end);
    if (q >= end || *q != '[') {
        note_error("client %d: web message is not a JSON array: %.60s", i, p);
        return;
    }
    q = js_ws(q + 1, end);
    while (q < end && *q != ']') {
        struct ws_event e;
        const char *next = js_event(q, end, &e);
        if (!next) {
            note_error("client %d: malformed web event: %.60s", i, q);
            return;
        }
        ws_event(i, &e, now);
        if (c->fd < 0) return;
        q = js_ws(next, end);
        if (q < end && *q == ',') q = js_ws(q + 1, end);
    }
}

static void ws_fail(int i, const char *why, const char *text, size_t len)
{
    struct conn *c = &conns[i];
    if (c->state == CS_JOINED || c->state == CS_CLOSED) {
        note_error("client %d: %s: %.*s", i, why, (int)(len > 100 ? 100 : len), text);
        errno = 0;
        conn_close(i);
    } else {
        mark_failed(i, why, text, len);
    }
}

/* one frame */
static void ws_frame(int i, int fin, int opcode, const char *p, size_t n, uint64_t now)
{
    struct ws *w = WS(i);
    st.ws_frames++;
    switch (opcode) {
    case 0x9: /* ping: pong with the same payload */
        st.ws_pings++;
        ws_send(i, 0xA, p, n);
        return;
    case 0xA: /* pong */
        return;
    case 0x8: { /* close: echo the status code, then close */
        st.ws_closes++;
        ws_send(i, 0x8, p, n >= 2 ? 2 : 0);
        int code = n >= 2 ? ((unsigned char)p[0] << 8 | (unsigned char)p[1]) : 0;
        if (!st.ws_first_close[0])
            snprintf(st.ws_first_close, sizeof st.ws_first_close, "client %d: close %d %.*s", i, code,
                     (int)(n > 2 && n < 100 ? n - 2 : 0), p + 2);
        if (conns[i].state == CS_JOINED) { /* as a telnet EOF after joining: counted in closed_after_join */
            errno = 0;
            conn_close(i);
        } else {
            mark_failed(i, "closed by the server", st.ws_first_close, strlen(st.ws_first_close));
        }
        return;
    }
    case 0x1:
    case 0x2:
        if (w->in_frag) { ws_fail(i, "protocol error", "new message inside a fragmented one", 35); return; }
        if (fin) { ws_message(i, p, n, now); return; }
        w->in_frag = 1;
        w->msg_len = 0;
        /* fall through - keep this first fragment */
    case 0x0:
        if (!w->in_frag) { ws_fail(i, "protocol error", "continuation frame outside a message", 36); return; }
        if ((uint64_t)w->msg_len + n > WS_MSG_MAX) { ws_fail(i, "protocol error", "message too big", 15); return; }
        if (w->msg_len + n > w->msg_cap) {
            uint32_t cap = w->msg_cap ? w->msg_cap : 65536;
            while (cap < w->msg_len + n) cap *= 2;
            char *nb = realloc(w->msg, cap);
            if (!nb) { perror("realloc"); exit(2); }
            w->msg = nb;
            w->msg_cap = cap;
        }
        memcpy(w->msg + w->msg_len, p, n);
        w->msg_len += (uint32_t)n;
        if (fin) {
            w->in_frag = 0;
            ws_message(i, w->msg, w->msg_len, now);
        }
        return;
    default:
        ws_fail(i, "protocol error", "unknown opcode", 14);
    }
}

static void ws_reserve(struct ws *w, size_t need)
{
    if (w->cap >= need) return;
    size_t cap = w->cap ? w->cap : 2 * WS_READ_MIN;
    while (cap < need) cap *= 2;
    char *nb = realloc(w->buf, cap);
    if (!nb) { perror("realloc"); exit(2); }
    w->buf = nb;
    w->cap = (uint32_t)cap;
}

/* parse what client i has received: the 101 response, then every complete frame */
static void ws_parse(int i, uint64_t now)
{
    struct conn *c = &conns[i];
    struct ws *w = WS(i);
    size_t off = 0, len = w->len;
    const unsigned char *u = (const unsigned char *)w->buf;
    if (!w->http_done) {
        const char *hend = memmem(w->buf, len, "\r\n\r\n", 4);
        if (!hend) {
            if (len > WS_HTTP_MAX) mark_failed(i, "refused", "upgrade response too long", 25);
            return;
        }
        /* "HTTP/1.1 101 Switching Protocols": only the status is checked */
        const char *eol = memchr(w->buf, '\r', len);
        if (len < 12 || memcmp(w->buf, "HTTP/1.", 7) || memcmp(w->buf + 8, " 101", 4)) {
            mark_failed(i, "refused", w->buf, (size_t)(eol - w->buf));
            return;
        }
        w->http_done = 1;
        off = (size_t)(hend + 4 - w->buf);
    }
    while (len - off >= 2) {
        int fin = u[off] & 0x80, opcode = u[off] & 0x0f, masked = u[off + 1] & 0x80;
        uint64_t plen = u[off + 1] & 0x7f;
        size_t hdr = 2;
        if (plen == 126) {
            if (len - off < 4) break;
            plen = (uint64_t)u[off + 2] << 8 | u[off + 3];
            hdr = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int b = 0; b < 8; b++) plen = plen << 8 | u[off + 2 + b];
            hdr = 10;
        }
        if (masked) hdr += 4; /* a server must not mask; unmask anyway */
        if (plen > WS_MSG_MAX) { ws_fail(i, "protocol error", "frame too big", 13); return; }
        if (len - off < hdr + plen) {
            ws_reserve(w, hdr + (size_t)plen + WS_READ_MIN); /* room for the rest of this frame */
            u = (const unsigned char *)w->buf;
            break;
        }
        char *payload = w->buf + off + hdr;
        if (masked) {
            const unsigned char *mk = u + off + hdr - 4;
            for (uint64_t b = 0; b < plen; b++) payload[b] ^= (char)mk[b & 3];
        }
        ws_frame(i, fin, opcode, payload, (size_t)plen, now);
        if (c->fd < 0) return;
        off += hdr + (size_t)plen;
    }
    if (off) {
        memmove(w->buf, w->buf + off, len - off);
        w->len = (uint32_t)(len - off);
    }
}

static void ws_read(int i, uint64_t now)
{
    struct conn *c = &conns[i];
    struct ws *w = WS(i);
    for (;;) {
        if (c->fd < 0) return;
        ws_reserve(w, (size_t)w->len + WS_READ_MIN);
        size_t room = w->cap - w->len;
        ssize_t n = read(c->fd, w->buf + w->len, room);
        if (n == 0) { errno = 0; conn_close(i); return; }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            conn_close(i);
            return;
        }
        st.bytes_in += (uint64_t)n;
        st.bytes_in_web += (uint64_t)n;
        w->len += (uint32_t)n;
        ws_parse(i, now);
        if ((size_t)n < room) return; /* short read: the socket queue is empty (edge-triggered) */
    }
}

static void on_connected(int i)
{
    struct conn *c = &conns[i];
    st.connected++;
    if (IS_WEB(i)) {
        c->state = CS_GREETING; /* upgrade sent; waiting for the 101, then "hello" */
        ws_on_connected(i);
    } else if (opt.proto == P_IRC) {
        c->state = CS_NICK_SENT;
        if (opt.irc_echo) /* a server without it answers NAK, and registers at CAP END */
            conn_printf(i, "CAP REQ :echo-message\r\nNICK %s\r\nUSER %s 0 * :lcbench\r\nCAP END\r\n",
                        c->nick, c->nick);
        else
            conn_printf(i, "NICK %s\r\nUSER %s 0 * :lcbench\r\n", c->nick, c->nick);
    } else {
        c->state = CS_GREETING;
    }
}

/* Read everything available on connection i and process complete lines. */
static void handle_read(int i, uint64_t now)
{
    struct conn *c = &conns[i];
    if (IS_WEB(i)) { ws_read(i, now); return; }
    for (;;) {
        if (c->fd < 0) return;
        size_t have = c->carry_len;
        if (have) memcpy(rbuf, c->carry, have);
        ssize_t n = read(c->fd, rbuf + have, RBUF_SIZE - have);
        if (n == 0) { errno = 0; conn_close(i); return; }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            conn_close(i);
            return;
        }
        st.bytes_in += (uint64_t)n;
        size_t total = have + (size_t)n;
        char *p = rbuf, *end = rbuf + total;
        for (;;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl) break;
            size_t len = (size_t)(nl - p);
            if (len && p[len - 1] == '\r') len--;
            st.lines++;
            if (opt.proto == P_IRC) irc_line(i, p, len, now);
            else lc_line(i, p, len, now);
            if (c->fd < 0) return; /* closed while handling */
            p = nl + 1;
        }
        size_t rest = (size_t)(end - p);
        if (rest > CARRY_MAX) { st.long_lines++; rest = 0; }
        if (rest) {
            if (!c->carry && !(c->carry = malloc(CARRY_MAX))) { perror("malloc"); exit(2); }
            memmove(c->carry, p, rest);
        }
        c->carry_len = (uint16_t)rest;
        /* A short read means the socket queue is empty; with edge-triggered
         * epoll any later data produces a new event, so stop here. */
        if ((size_t)n < RBUF_SIZE - have) return;
    }
}

/* ------------------------------------------------------------- connecting */

static void launch_one(int i, uint64_t now)
{
    struct conn *c = &conns[i];
    c->t_start = now;
    c->state = CS_CONNECTING;
    st.launched++;
    st.pending++;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        st.connect_errors++;
        const char *e = strerror(errno);
        mark_failed(i, "socket", e, strlen(e));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.src_ips > 1) {
        struct sockaddr_in la = {.sin_family = AF_INET};
        la.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % opt.src_ips));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&la, sizeof la) < 0) note_error("bind: %s", strerror(errno));
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); exit(2); }
    const struct sockaddr_in *to = IS_WEB(i) ? &web_addr : &server_addr;
    int r = connect(fd, (const struct sockaddr *)to, sizeof *to);
    if (r == 0) { on_connected(i); return; }
    if (errno != EINPROGRESS) {
        st.connect_errors++;
        const char *e = strerror(errno);
        mark_failed(i, "connect", e, strlen(e));
    }
}

static int next_launch;

static void launch_connections(uint64_t now)
{
    if (phase != PH_CONNECT) return;
    while (next_launch < opt.clients) {
        if (opt.max_pending > 0 && st.pending >= opt.max_pending) break;
        if (opt.connect_rate > 0) {
            double allowed = (double)(now - t_begin) / 1e9 * opt.connect_rate + 1;
            if ((double)next_launch >= allowed) break;
        }
        launch_one(next_launch++, now);
    }
}

/* ------------------------------------------------------------ event loop */

static void handle_event(struct epoll_event *ev, uint64_t now)
{
    int i = (int)ev->data.u32;
    struct conn *c = &conns[i];
    if (c->fd < 0) return;
    if (c->state == CS_CONNECTING) {
        if (!(ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            st.connect_errors++;
            const char *e = strerror(err);
            mark_failed(i, "connect", e, strlen(e));
            return;
        }
        on_connected(i);
    }
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) handle_read(i, now);
    if (c->fd >= 0 && (ev->events & EPOLLOUT) && c->out_len > c->out_off) flush_out(i);
}

/* every message of sender s should reach every recipient of its room except s itself */
static uint64_t expected_deliveries(void)
{
    uint64_t total = 0;
    for (int s = 0; s < opt.senders; s++) total += (uint64_t)senders[s].next_seq * (uint64_t)fanout[s];
    return total;
}

static uint64_t expected_deliveries_web(void)
{
    uint64_t total = 0;
    if (opt.web_clients)
        for (int s = 0; s < opt.senders; s++) total += (uint64_t)senders[s].next_seq * (uint64_t)fanout_web[s];
    return total;
}

static uint64_t fanout_total(void) /* expected deliveries of one message from every sender */
{
    uint64_t t = 0;
    for (int s = 0; s < opt.senders; s++) t += fanout[s];
    return t;
}

static void start_step(double rate, uint64_t now)
{
    if (n_steps >= MAX_STEPS) { phase = PH_HOLD; t_hold_end = now + (uint64_t)(opt.hold * 1e9); return; }
    cur = &steps[n_steps++];
    memset(cur, 0, sizeof *cur);
    cur->rate = rate;
    cur->t_warm = now;
    cur->c0_blocked = st.send_blocked;
    cur->c0_viol = st.order_violations;
    cur->c0_closed = (uint64_t)st.closed_after_join;
    cur->c0_lag = st.lag_resets;
    cur->c0_stalls = st.stalls;
    cur->c0_cross = st.cross_room;
    read_kstat(&cur->k0);
    for (int s = 0; s < opt.senders; s++) {
        senders[s].next_send = now + (uint64_t)((double)s / opt.senders * (rate > 0 ? 1e9 / rate : 0));
        senders[s].last_progress = now;
    }
    phase = PH_WARMUP;
    double fan = opt.rooms > 1 ? (double)fanout_total() : opt.senders * (st.joined > 1 ? st.joined - 1 : 0);
    if (!opt.quiet && opt.ramp_start > 0)
        fprintf(stderr, "[lcbench] step %d: rate %.2f msgs/s per sender (offered %.0f deliveries/s)\n", n_steps - 1,
                rate, rate * fan);
}

static void begin_measure(uint64_t now)
{
    phase = PH_MEASURE;
    cur->t_m0 = now;
    cur->gen_cpu0 = cpu_self_ns();
    cur->srv_cpu0 = proc_cpu_s(opt.server_pid);
    read_cpus(&cur->cs0);
}

static void end_measure(uint64_t now)
{
    cur->t_m1 = now;
    cur->gen_cpu1 = cpu_self_ns();
    cur->srv_cpu1 = proc_cpu_s(opt.server_pid);
    read_cpus(&cur->cs1);
    phase = PH_DRAIN;
    cur->t_drain_end = now + (uint64_t)(opt.drain * 1e9);
}

static void stop_ramp(const char *why)
{
    if (!ramp_stop_reason_set) {
        snprintf(ramp_stop_reason, sizeof ramp_stop_reason, "%s", why);
        ramp_stop_reason_set = 1;
    }
}

/* A step's drain is over: judge it and pick the next step (or stop). */
static void end_step(uint64_t now)
{
    cur->t_done = now;
    read_kstat(&cur->k1);
    cur->d_blocked = st.send_blocked - cur->c0_blocked;
    cur->d_viol = st.order_violations - cur->c0_viol;
    cur->d_closed = (uint64_t)st.closed_after_join - cur->c0_closed;
    cur->d_lag = st.lag_resets - cur->c0_lag;
    cur->d_stalls = st.stalls - cur->c0_stalls;
    cur->d_cross = st.cross_room - cur->c0_cross;
    uint64_t exp = expected_deliveries();
    cur->missing = exp > st.deliveries_total ? exp - st.deliveries_total : 0;
    uint64_t exp_web = expected_deliveries_web(), exp_tel = exp - exp_web;
    uint64_t got_tel = st.deliveries_total - st.deliveries_web;
    cur->missing_door[0] = exp_tel > got_tel ? exp_tel - got_tel : 0;
    cur->missing_door[1] = exp_web > st.deliveries_web ? exp_web - st.deliveries_web : 0;
    cur->pass = cur->drain_complete && !cur->d_blocked && !cur->d_closed && !cur->d_viol && !cur->d_cross &&
                cur->lat.count > 0 && hist_pct_ms(&cur->lat, 99) <= opt.ramp_p99_ms;
    if (!opt.quiet && opt.ramp_start > 0)
        fprintf(stderr, "[lcbench] step %d: %.0f deliveries/s p50 %.1f ms p99 %.1f ms drained=%d -> %s\n",
                n_steps - 1, cur->t_m1 > cur->t_m0 ? cur->deliveries_window / ((double)(cur->t_m1 - cur->t_m0) / 1e9) : 0,
                hist_pct_ms(&cur->lat, 50), hist_pct_ms(&cur->lat, 99), cur->drain_complete,
                cur->pass ? "pass" : "FAIL");

    double next = 0;
    if (opt.ramp_start > 0) {
        if (cur->pass) {
            if (cur->rate > ramp_best_pass) ramp_best_pass = cur->rate;
        } else if (ramp_low_fail == 0 || cur->rate < ramp_low_fail) {
            ramp_low_fail = cur->rate;
        }
        if (!cur->drain_complete || cur->d_closed) stop_ramp("backlog did not drain or connections dropped");
        else if (ramp_low_fail == 0) {
            next = cur->rate * opt.ramp_factor;
            if (next > opt.ramp_max * 1.0001) { next = 0; stop_ramp("reached --ramp max"); }
        } else if (ramp_best_pass == 0) {
            /* nothing passed yet: step down (at most 4 times) until something passes */
            next = cur->rate / opt.ramp_factor;
            if (next < opt.ramp_start / pow(opt.ramp_factor, 4) * 0.9999) { next = 0; stop_ramp("no step passed"); }
        } else if (ramp_refines_left > 0) {
            ramp_refines_left--;
            next = sqrt(ramp_best_pass * ramp_low_fail);
        } else stop_ramp("refinement done");
    }
    if (next > 0) start_step(next, now);
    else {
        cur = NULL;
        phase = PH_HOLD;
        t_hold_end = now + (uint64_t)(opt.hold * 1e9);
    }
}

static void enter_traffic(uint64_t now)
{
    /* Everyone joined now is a recipient; a sender's message is expected by the
     * other recipients of its room. */
    for (int r = 0; r < opt.clients; r++) conns[r].recipient = (conns[r].state == CS_JOINED);
    uint32_t *room_rec = calloc((size_t)opt.rooms, sizeof *room_rec);
    if (!room_rec) { perror("calloc"); exit(2); }
    for (int r = 0; r < opt.clients; r++) room_rec[ROOM(r)] += conns[r].recipient;
    for (int s = 0; s < opt.senders; s++) fanout[s] = room_rec[ROOM(s)] - (conns[s].recipient ? 1 : 0);
    if (opt.web_clients) { /* senders are never web clients */
        memset(room_rec, 0, (size_t)opt.rooms * sizeof *room_rec);
        for (int r = web_first; r < opt.clients; r++) room_rec[ROOM(r)] += conns[r].recipient;
        for (int s = 0; s < opt.senders; s++) fanout_web[s] = room_rec[ROOM(s)];
    }
    free(room_rec);
    ramp_refines_left = opt.ramp_refine;
    start_step(opt.ramp_start > 0 ? opt.ramp_start : opt.rate, now);
}

static void advance_phase(uint64_t now)
{
    switch (phase) {
    case PH_CONNECT:
        if (next_launch >= opt.clients && st.pending <= 0) {
            join_complete = (st.joined == opt.clients);
        } else if (now - t_begin > (uint64_t)(opt.join_timeout * 1e9)) {
            join_complete = 0;
            note_error("join timeout: %d/%d joined", st.joined, opt.clients);
        } else break;
        t_all_joined = now;
        cpu_at_joined = cpu_self_ns();
        srv_cpu_joined = proc_cpu_s(opt.server_pid);
        read_cpus(&cs_joined);
        read_kstat(&ks_joined);
        st.t_last_notice = now;
        phase = PH_SETTLE;
        /* fall through */
    case PH_SETTLE: {
        /* with rooms the number of join notices depends on the server (lobby
         * and room notices): settle on --settle-quiet / --settle-timeout only */
        uint64_t j = (uint64_t)st.joined;
        uint64_t expect = (opt.proto == P_IRC && !opt.irc_join) ? 0 : opt.rooms > 1 ? UINT64_MAX : j * (j + 1) / 2;
        int done = 0;
        if (st.notices >= expect) { done = 1; settle_complete = 1; }
        else if (now - st.t_last_notice > (uint64_t)(opt.settle_quiet * 1e9)) done = 1;
        else if (now - t_all_joined > (uint64_t)(opt.settle_timeout * 1e9)) done = 1;
        if (!done) break;
        t_settled = settle_complete ? now : st.t_last_notice;
        rss_joined = proc_status_kb(opt.server_pid, "VmRSS");
        if (opt.senders > 0 && opt.duration > 0 && st.joined > 0) enter_traffic(now);
        else { phase = PH_HOLD; t_hold_end = now + (uint64_t)(opt.hold * 1e9); }
        break;
    }
    case PH_WARMUP:
        if (now >= cur->t_warm + (uint64_t)(opt.warmup * 1e9)) begin_measure(now);
        break;
    case PH_MEASURE:
        if (now >= cur->t_m0 + (uint64_t)(opt.duration * 1e9)) end_measure(now);
        break;
    case PH_DRAIN:
        if (st.deliveries_total >= expected_deliveries()) cur->drain_complete = 1;
        if (cur->drain_complete || now >= cur->t_drain_end) end_step(now);
        break;
    case PH_HOLD:
        if (now >= t_hold_end) phase = PH_DONE;
        break;
    case PH_DONE:
        break;
    }
}

static int compute_timeout_ms(uint64_t now)
{
    uint64_t wake = now + 100 * NS_PER_MS; /* periodic tick */
    if (phase == PH_CONNECT && opt.connect_rate > 0 && next_launch < opt.clients) {
        uint64_t t = t_begin + (uint64_t)((double)next_launch / opt.connect_rate * 1e9);
        if (t < wake) wake = t;
    }
    if ((phase == PH_WARMUP || phase == PH_MEASURE) && cur && cur->rate > 0) {
        for (int s = 0; s < opt.senders; s++)
            if (senders[s].next_send < wake) wake = senders[s].next_send;
    }
    if (wake <= now) return 0;
    return (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS);
}

static uint64_t last_progress_t, last_progress_deliv, last_progress_deliv_web;

static void progress(uint64_t now)
{
    if (opt.quiet || opt.progress <= 0) return;
    if (now - last_progress_t < (uint64_t)(opt.progress * 1e9)) return;
    double dt = (double)(now - last_progress_t) / 1e9;
    fprintf(stderr,
            "[lcbench %6.1fs] %-7s launched=%d joined=%d failed=%d closed=%d notices=%llu deliv/s=%.0f sent=%llu "
            "rss=%ldkB%s",
            (double)(now - t_begin) / 1e9, phase_name[phase], st.launched, st.joined, st.failed,
            st.closed_after_join, (unsigned long long)st.notices,
            (double)(st.deliveries_total - last_progress_deliv) / dt, (unsigned long long)st.msgs_sent,
            proc_status_kb(opt.server_pid, "VmRSS"), opt.web_clients ? "" : "\n");
    if (opt.web_clients) {
        int joined_web = 0;
        for (int r = web_first; r < opt.clients; r++) joined_web += conns[r].state == CS_JOINED;
        fprintf(stderr, " web: joined=%d deliv/s=%.0f\n", joined_web,
                (double)(st.deliveries_web - last_progress_deliv_web) / dt);
    }
    last_progress_t = now;
    last_progress_deliv = st.deliveries_total;
    last_progress_deliv_web = st.deliveries_web;
}

/* ---------------------------------------------------------------- report */

static void json_hist(const char *name, const struct hist *h)
{
    printf("\"%s\":{\"count\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
           name, (unsigned long long)h->count, h->count ? (double)h->sum_us / (double)h->count / 1000.0 : 0.0,
           hist_pct_ms(h, 50), hist_pct_ms(h, 90), hist_pct_ms(h, 99), hist_pct_ms(h, 99.9),
           (double)h->max_us / 1000.0);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { putchar('\\'); putchar(ch); }
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static double pct(uint64_t cpu_ns, uint64_t wall_ns) { return wall_ns ? 100.0 * (double)cpu_ns / (double)wall_ns : 0; }

static int count_recipients(void)
{
    int n = 0;
    for (int r = 0; r < opt.clients; r++) n += conns[r].recipient;
    return n;
}

/* loss over the whole run, per door: [0] telnet, [1] web */
struct door_loss {
    uint64_t expected, received, lost, lost_pairs;
};

/* "by_door":{"telnet":{...},"web":{...}} for step sp; with loss (the reported step) the
 * whole run's loss and bytes too.  Telnet = total - web; with --web-clients 0 the
 * telnet latency is the step's own histogram (no per-door histogram is kept). */
static void json_by_door(const struct step *sp, int nrec, const struct door_loss *loss)
{
    double dur = sp->t_m1 > sp->t_m0 ? (double)(sp->t_m1 - sp->t_m0) / 1e9 : 0;
    int nrec_web = 0;
    for (int r = web_first; r < opt.clients; r++) nrec_web += conns[r].recipient;
    /* offered: rooms > 1 counts each message's fan-out; one room: msgs x (recipients - 1) */
    double offered = opt.rooms > 1 ? (double)sp->offered_window
                                   : (double)sp->msgs_window * (nrec > 1 ? nrec - 1 : 0);
    double offered_web = opt.rooms > 1 ? (double)sp->offered_window_web : (double)sp->msgs_window * nrec_web;
    printf("\"by_door\":{");
    for (int web = 0; web < 2; web++) {
        int clients = web ? opt.web_clients : opt.clients - opt.web_clients;
        int recipients = web ? nrec_web : nrec - nrec_web;
        uint64_t deliv = web ? sp->deliveries_window_web : sp->deliveries_window - sp->deliveries_window_web;
        double off = web ? offered_web : offered - offered_web;
        uint64_t missing = sp->missing_door[web];
        const struct hist *h = opt.web_clients ? &sp->lat_door[web] : &sp->lat;
        printf("%s\"%s\":{\"clients\":%d,\"recipients\":%d,\"deliveries\":%llu,\"deliveries_per_s\":%.1f,"
               "\"offered_deliveries_per_s\":%.1f,",
               web ? "," : "", web ? "web" : "telnet", clients, recipients, (unsigned long long)deliv,
               dur > 0 ? (double)deliv / dur : 0.0, dur > 0 ? off / dur : 0.0);
        if (!opt.web_clients && web) {
            static const struct hist empty;
            h = &empty;
        }
        json_hist("latency_ms", h);
        printf(",\"missing_after_drain\":%llu", (unsigned long long)missing);
        if (loss) {
            int closed = 0, failed = 0;
            for (int r = web ? web_first : 0; r < (web ? opt.clients : web_first); r++) {
                closed += conns[r].state == CS_CLOSED;
                failed += conns[r].state == CS_FAILED;
            }
            printf(",\"closed_after_join\":%d,\"failed\":%d", closed, failed);
            uint64_t bytes = web ? st.bytes_in_web : st.bytes_in - st.bytes_in_web;
            uint64_t dtotal = web ? st.deliveries_web : st.deliveries_total - st.deliveries_web;
            printf(",\"deliveries_total\":%llu,\"expected_total\":%llu,\"received_total\":%llu,\"lost_total\":%llu,"
                   "\"lost_pairs\":%llu,\"bytes_in\":%llu",
                   (unsigned long long)dtotal, (unsigned long long)loss[web].expected,
                   (unsigned long long)loss[web].received, (unsigned long long)loss[web].lost,
                   (unsigned long long)loss[web].lost_pairs, (unsigned long long)bytes);
            if (web) {
                printf(",\"ws_messages\":%llu,\"ws_frames\":%llu,\"ws_pings\":%llu,\"ws_closes\":%llu,"
                       "\"ws_first_close\":",
                       (unsigned long long)st.ws_messages, (unsigned long long)st.ws_frames,
                       (unsigned long long)st.ws_pings, (unsigned long long)st.ws_closes);
                json_str(st.ws_first_close);
            }
        }
        printf("}");
    }
    printf("}");
}

/* the fields shared by "traffic" and every entry of "steps" */
static void json_step_fields(const struct step *sp, int nrec, const struct door_loss *loss)
{
    double dur = sp->t_m1 > sp->t_m0 ? (double)(sp->t_m1 - sp->t_m0) / 1e9 : 0;
    uint64_t mw = sp->t_m1 > sp->t_m0 ? sp->t_m1 - sp->t_m0 : 0;
    printf("\"rate\":%.3f,\"measure_s\":%.3f,\"msgs_sent_window\":%llu,\"msgs_per_s\":%.1f,"
           "\"deliveries_window\":%llu,\"deliveries_per_s\":%.1f,\"offered_deliveries_per_s\":%.1f,",
           sp->rate, dur, (unsigned long long)sp->msgs_window, dur > 0 ? (double)sp->msgs_window / dur : 0.0,
           (unsigned long long)sp->deliveries_window, dur > 0 ? (double)sp->deliveries_window / dur : 0.0,
           dur <= 0 ? 0.0
           : opt.rooms > 1 ? (double)sp->offered_window / dur
                           : (double)sp->msgs_window * (nrec > 1 ? nrec - 1 : 0) / dur);
    json_hist("latency_ms", &sp->lat);
    printf(",\"drain_complete\":%s,\"drain_s\":%.3f,\"missing_after_drain\":%llu,\"send_blocked\":%llu,"
           "\"order_violations\":%llu,\"closed\":%llu,\"lag_resets\":%llu,\"stalls\":%llu,\"pass\":%s,"
           "\"gen_cpu_pct\":%.1f,\"srv_cpu_pct\":%.1f,\"srv_cpu_s\":%.2f,",
           sp->drain_complete ? "true" : "false",
           sp->t_done > sp->t_m1 && sp->t_m1 ? (double)(sp->t_done - sp->t_m1) / 1e9 : 0.0,
           (unsigned long long)sp->missing, (unsigned long long)sp->d_blocked, (unsigned long long)sp->d_viol,
           (unsigned long long)sp->d_closed, (unsigned long long)sp->d_lag, (unsigned long long)sp->d_stalls,
           sp->pass ? "true" : "false", pct(sp->gen_cpu1 - sp->gen_cpu0, mw),
           (sp->srv_cpu1 >= 0 && mw) ? 100.0 * (sp->srv_cpu1 - sp->srv_cpu0) / ((double)mw / 1e9) : -1.0,
           (sp->srv_cpu1 >= 0 && sp->srv_cpu0 >= 0 && mw) ? sp->srv_cpu1 - sp->srv_cpu0 : -1.0);
    if (opt.rooms > 1) printf("\"cross_room\":%llu,", (unsigned long long)sp->d_cross);
    json_cpus(&sp->cs0, &sp->cs1);
    printf(",\"kernel\":{");
    json_kstat(&sp->k0, &sp->k1);
    printf("},");
    json_by_door(sp, nrec, loss);
}

static void report(void)
{
    /* loss over the whole run: for every recipient and every sender of its room other than itself */
    uint64_t expected = 0, received = 0, lost = 0, lost_pairs = 0;
    struct door_loss loss[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    int nrec = count_recipients();
    for (int r = 0; r < opt.clients; r++) {
        if (!conns[r].recipient) continue;
        struct door_loss *dl = &loss[IS_WEB(r)];
        for (int s = ROOM(r); s < opt.senders; s += opt.rooms) {
            if (s == r) continue;
            uint64_t want = senders[s].next_seq;
            uint64_t got = recv_cnt[(size_t)r * (size_t)opt.senders + (size_t)s];
            expected += want;
            received += got;
            dl->expected += want;
            dl->received += got;
            if (got < want) { lost += want - got; lost_pairs++; dl->lost += want - got; dl->lost_pairs++; }
        }
    }
    /* the step reported as "traffic": the best passing one in a ramp, else the last */
    const struct step *rep = n_steps ? &steps[n_steps - 1] : NULL;
    if (opt.ramp_start > 0) {
        const struct step *best = NULL;
        for (int k = 0; k < n_steps; k++)
            if (steps[k].pass && (!best || steps[k].deliveries_window * (best->t_m1 - best->t_m0) >
                                               best->deliveries_window * (steps[k].t_m1 - steps[k].t_m0)))
                best = &steps[k];
        rep = best ? best : (n_steps ? &steps[0] : NULL);
    }
    uint64_t join_wall = t_all_joined > t_begin ? t_all_joined - t_begin : 0;
    long rss_per_conn_b = -1;
    if (rss_joined > 0 && rss_start > 0 && st.joined > 0)
        rss_per_conn_b = (long)((double)(rss_joined - rss_start) * 1024.0 / st.joined);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    printf("{\"label\":");
    json_str(opt.label);
    printf(",\"config\":{\"proto\":\"%s\",\"host\":", opt.proto == P_IRC ? "irc" : "littlecats");
    json_str(opt.host);
    char rate_s[32] = "null", ramp_s[64] = "null"; /* the ramp replaces --rate */
    if (opt.ramp_start > 0) snprintf(ramp_s, sizeof ramp_s, "\"%g:%g:%g\"", opt.ramp_start, opt.ramp_factor, opt.ramp_max);
    else snprintf(rate_s, sizeof rate_s, "%g", opt.rate);
    printf(",\"port\":%d,\"clients\":%d,\"senders\":%d,\"rooms\":%d,\"rate\":%s,\"window\":%d,\"duration\":%g,"
           "\"warmup\":%g,\"drain\":%g,\"hold\":%g,\"connect_rate\":%g,\"max_pending\":%d,\"payload\":%d,\"irc_join\":%d,"
           "\"ramp\":%s,\"ramp_p99_ms\":%g,\"ramp_refine\":%d,\"server_pid\":%d",
           opt.port, opt.clients, opt.senders, opt.rooms, rate_s, opt.window, opt.duration, opt.warmup, opt.drain,
           opt.hold, opt.connect_rate, opt.max_pending, opt.payload, opt.irc_join, ramp_s, opt.ramp_p99_ms, opt.ramp_refine,
           opt.server_pid);
    if (opt.rooms > 1 && opt.proto == P_LC) {
        printf(",\"lc_join\":");
        json_str(opt.lc_join);
    }
    printf(",\"web_clients\":%d,\"web_port\":%d,\"web_path\":", opt.web_clients, opt.web_port);
    json_str(opt.web_path);
    printf("},");
    char nexp[32] = "null"; /* rooms > 1: not known (settled on quiet / timeout) */
    if (opt.proto == P_IRC && !opt.irc_join) snprintf(nexp, sizeof nexp, "0");
    else if (opt.rooms == 1)
        snprintf(nexp, sizeof nexp, "%llu", (unsigned long long)st.joined * (st.joined + 1ULL) / 2);
    printf("\"join\":{\"launched\":%d,\"connected\":%d,\"joined\":%d,\"failed\":%d,\"refused\":%d,"
           "\"connect_errors\":%d,\"complete\":%s,\"all_joined_s\":%.3f,\"joins_per_s\":%.1f,\"notices\":%llu,"
           "\"notices_expected\":%s,\"settle_complete\":%s,\"all_notices_s\":%.3f,",
           st.launched, st.connected, st.joined, st.failed, st.refused, st.connect_errors,
           join_complete ? "true" : "false", (double)join_wall / 1e9,
           join_wall ? st.joined / ((double)join_wall / 1e9) : 0.0, (unsigned long long)st.notices, nexp,
           settle_complete ? "true" : "false", t_settled > t_begin ? (double)(t_settled - t_begin) / 1e9 : 0.0);
    json_hist("handshake_ms", &hs_hist);
    printf(",\"gen_cpu_pct\":%.1f,\"srv_cpu_pct\":%.1f,", pct(cpu_at_joined - cpu_at_begin, join_wall),
           (srv_cpu_joined >= 0 && join_wall) ? 100.0 * (srv_cpu_joined - srv_cpu_begin) / ((double)join_wall / 1e9)
                                              : -1.0);
    json_cpus(&cs_begin, &cs_joined);
    printf(",\"kernel\":{");
    json_kstat(&ks_begin, &ks_joined);
    printf("}},");

    printf("\"traffic\":{\"step\":%d,\"recipients\":%d,", rep ? (int)(rep - steps) : -1, nrec);
    if (rep) json_step_fields(rep, nrec, loss);
    else printf("\"deliveries_per_s\":0");
    printf(",\"msgs_sent_total\":%llu,\"expected_total\":%llu,\"received_total\":%llu,\"lost_total\":%llu,"
           "\"lost_pairs\":%llu,\"order_violations_total\":%llu,\"gaps_total\":%llu,\"self_echo\":%llu,"
           "\"send_blocked_total\":%llu",
           (unsigned long long)st.msgs_sent, (unsigned long long)expected, (unsigned long long)received,
           (unsigned long long)lost, (unsigned long long)lost_pairs, (unsigned long long)st.order_violations,
           (unsigned long long)st.gaps, (unsigned long long)st.self_echo, (unsigned long long)st.send_blocked);
    if (opt.rooms > 1) printf(",\"cross_room_total\":%llu", (unsigned long long)st.cross_room);
    printf("},");

    printf("\"ramp\":{\"enabled\":%s,\"best_pass_rate\":%.3f,\"lowest_fail_rate\":%.3f,\"stop_reason\":",
           opt.ramp_start > 0 ? "true" : "false", ramp_best_pass, ramp_low_fail);
    json_str(ramp_stop_reason);
    printf("},\"steps\":[");
    for (int k = 0; k < n_steps; k++) {
        printf("%s{", k ? "," : "");
        json_step_fields(&steps[k], nrec, NULL);
        printf("}");
    }
    printf("],");

    printf("\"server\":{\"pid\":%d,\"rss_kb_start\":%ld,\"rss_kb_after_join\":%ld,\"rss_kb_end\":%ld,"
           "\"hwm_kb_end\":%ld,\"rss_bytes_per_conn\":%ld},",
           opt.server_pid, rss_start, rss_joined, rss_end, hwm_end, rss_per_conn_b);
    printf("\"generator\":{\"cpu_s_total\":%.2f,\"wall_s_total\":%.2f,\"maxrss_kb\":%ld,\"lines\":%llu,"
           "\"bytes_in\":%llu,\"long_lines\":%llu,\"pings\":%llu},",
           (double)(cpu_at_end - cpu_at_begin) / 1e9, (double)(t_end - t_begin) / 1e9, ru.ru_maxrss,
           (unsigned long long)st.lines, (unsigned long long)st.bytes_in, (unsigned long long)st.long_lines,
           (unsigned long long)st.pings);
    printf("\"kernel\":{");
    json_kstat(&ks_begin, &ks_end);
    printf("},");
    printf("\"errors\":{\"count\":%llu,\"closed_after_join\":%d,\"first\":", (unsigned long long)st.protocol_errors,
           st.closed_after_join);
    json_str(st.first_error);
    printf("},\"aborted\":%s,\"interrupted\":%s}\n", aborted ? "true" : "false", interrupted ? "true" : "false");
    fflush(stdout);
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: lcbench [options]\n"
            "  --proto littlecats|irc   protocol (littlecats)\n"
            "  --host H --port P        server, IPv4 literal (127.0.0.1:4000)\n"
            "  --clients N              connections (100)\n"
            "  --senders S              clients 0..S-1 send chat (10)\n"
            "  --rooms K                client i is in room i %% K; a message is expected\n"
            "                           by the other members of its sender's room (1)\n"
            "  --rate R                 msgs/s per sender; 0 = closed loop (50)\n"
            "  --window W               closed loop: in-flight msgs per sender (1)\n"
            "  --ramp A:F:B             open-loop ramp of per-sender rates A, A*F, ... <= B\n"
            "  --ramp-p99-ms L          a ramp step passes if p99 <= L and nothing lost (250)\n"
            "  --ramp-refine K          bisection steps after the first failure (2)\n"
            "  --duration D --warmup W  measurement / warmup seconds per step (10 / 2)\n"
            "  --drain D                max seconds to wait for late deliveries (5)\n"
            "  --hold H                 seconds to stay connected at the end (0)\n"
            "  --connect-rate C         connections/s, 0 = unlimited (0)\n"
            "  --max-pending M          handshakes in flight, 0 = unlimited (100)\n"
            "  --join-timeout T         give up joining after T s (180)\n"
            "  --settle-timeout T       max wait for join notices (120)\n"
            "  --settle-quiet Q         ...or until no notice for Q s (2)\n"
            "  --payload B              chat payload bytes incl. marker (64)\n"
            "  --server-pid PID         sample server RSS/CPU from /proc\n"
            "  --channel C              irc channel (#bench)\n"
            "  --nick-prefix P          nick = P + 5 digits (lcb)\n"
            "  --irc-no-join            irc: register only, do not JOIN\n"
            "  --irc-echo               irc: ask for echo-message (senders get their own lines, as on telnet)\n"
            "  --lc-prompt STR          littlecats: send nick after a line containing STR\n"
            "                           (default: after the first line)\n"
            "  --lc-join FMT            littlecats, rooms > 1: command sent once the nick is\n"
            "                           accepted, %%d = room; its last word names the room\n"
            "                           (\"/join #bench%%d\"); irc rooms are <channel><r>\n"
            "  --src-ips K              spread source addresses over 127.0.0.1..K (1)\n"
            "  --max-runtime T          hard stop after T s (900)\n"
            "  --label L                copied into the JSON\n"
            "  --progress S / --quiet   stderr progress every S s / none\n"
            "  --web-clients N          the last N clients use the web door: a WebSocket at\n"
            "                           --web-port, JSON protocol; never senders (0)\n"
            "  --web-port P             the web door's port (8080)\n"
            "  --web-path PATH          the WebSocket's path (/ws)\n");
    exit(2);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    static struct option lo[] = {
        {"proto", 1, 0, 'P'}, {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"clients", 1, 0, 'c'},
        {"senders", 1, 0, 's'}, {"rate", 1, 0, 'r'}, {"window", 1, 0, 'w'}, {"duration", 1, 0, 'd'},
        {"warmup", 1, 0, 'W'}, {"drain", 1, 0, 'D'}, {"hold", 1, 0, 'H'}, {"connect-rate", 1, 0, 'C'},
        {"max-pending", 1, 0, 'M'}, {"join-timeout", 1, 0, 'J'}, {"settle-timeout", 1, 0, 'T'},
        {"settle-quiet", 1, 0, 'Q'}, {"payload", 1, 0, 'b'}, {"server-pid", 1, 0, 'S'}, {"channel", 1, 0, 'n'},
        {"nick-prefix", 1, 0, 'N'}, {"irc-no-join", 0, 0, 'x'}, {"irc-echo", 0, 0, 1001}, {"lc-prompt", 1, 0, 'L'}, {"src-ips", 1, 0, 'i'},
        {"rooms", 1, 0, 'K'}, {"lc-join", 1, 0, 'j'},
        {"ramp", 1, 0, 'A'}, {"ramp-p99-ms", 1, 0, 'Y'}, {"ramp-refine", 1, 0, 'F'},
        {"max-runtime", 1, 0, 'R'}, {"label", 1, 0, 'l'}, {"progress", 1, 0, 'g'}, {"quiet", 0, 0, 'q'},
        {"web-clients", 1, 0, 'E'}, {"web-port", 1, 0, 'O'}, {"web-path", 1, 0, 'U'},
        {"help", 0, 0, '?'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'P':
            if (!strcmp(optarg, "irc")) opt.proto = P_IRC;
            else if (!strcmp(optarg, "littlecats") || !strcmp(optarg, "lc")) opt.proto = P_LC;
            else usage();
            break;
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'c': opt.clients = atoi(optarg); break;
        case 's': opt.senders = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'w': opt.window = atoi(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'W': opt.warmup = atof(optarg); break;
        case 'D': opt.drain = atof(optarg); break;
        case 'H': opt.hold = atof(optarg); break;
        case 'C': opt.connect_rate = atof(optarg); break;
        case 'M': opt.max_pending = atoi(optarg); break;
        case 'J': opt.join_timeout = atof(optarg); break;
        case 'T': opt.settle_timeout = atof(optarg); break;
        case 'Q': opt.settle_quiet = atof(optarg); break;
        case 'b': opt.payload = atoi(optarg); break;
        case 'S': opt.server_pid = atoi(optarg); break;
        case 'n': opt.channel = optarg; break;
        case 'N': opt.nick_prefix = optarg; break;
        case 'x': opt.irc_join = 0; break;
        case 1001: opt.irc_echo = 1; break;
        case 'L': opt.lc_prompt = optarg; break;
        case 'i': opt.src_ips = atoi(optarg); break;
        case 'K': opt.rooms = atoi(optarg); break;
        case 'j': opt.lc_join = optarg; break;
        case 'A':
            if (sscanf(optarg, "%lf:%lf:%lf", &opt.ramp_start, &opt.ramp_factor, &opt.ramp_max) != 3 ||
                opt.ramp_start <= 0 || opt.ramp_factor <= 1.0)
                usage();
            break;
        case 'Y': opt.ramp_p99_ms = atof(optarg); break;
        case 'F': opt.ramp_refine = atoi(optarg); break;
        case 'R': opt.max_runtime = atof(optarg); break;
        case 'l': opt.label = optarg; break;
        case 'g': opt.progress = atof(optarg); break;
        case 'q': opt.quiet = 1; break;
        case 'E': opt.web_clients = atoi(optarg); break;
        case 'O': opt.web_port = atoi(optarg); break;
        case 'U': opt.web_path = optarg; break;
        default: usage();
        }
    }
    if (opt.clients < 1 || opt.clients > 10000000 || opt.senders < 0 || opt.senders > opt.clients || opt.window < 1)
        usage();
    if (opt.rooms < 1 || opt.rooms > opt.clients) {
        fprintf(stderr, "--rooms must be between 1 and --clients\n");
        return 2;
    }
    if (opt.web_clients < 0 || opt.web_clients > opt.clients - opt.senders) {
        fprintf(stderr, "--web-clients must be between 0 and --clients minus --senders (web clients never send)\n");
        return 2;
    }
    if (opt.web_clients > 0 && opt.proto != P_LC) {
        fprintf(stderr, "--web-clients needs --proto littlecats (the web door is littlecats's)\n");
        return 2;
    }
    if (opt.web_clients > 0 && (opt.web_port <= 0 || opt.web_port > 65535 || opt.web_path[0] != '/')) {
        fprintf(stderr, "--web-port must be a port and --web-path start with /\n");
        return 2;
    }
    web_first = opt.clients - opt.web_clients;
    if (opt.rooms > 1 && opt.proto == P_LC && !strstr(opt.lc_join, "%d")) {
        fprintf(stderr, "--lc-join needs a %%d (the room number)\n");
        return 2;
    }
    /* closed loop: in every room with a sender, the last member must not send (it is the designated receiver) */
    if (opt.ramp_start <= 0 && opt.rate <= 0 && opt.senders > 0) {
        for (int r = 0; r < opt.rooms && r < opt.senders; r++) {
            int last = r + (opt.clients - 1 - r) / opt.rooms * opt.rooms;
            if (last < opt.senders) {
                if (opt.rooms == 1)
                    fprintf(stderr, "closed loop needs at least one non-sender client (the designated receiver)\n");
                else
                    fprintf(stderr, "closed loop needs a non-sender in every room with a sender: the last member of "
                                    "room %d (client %d) is a sender\n", r, last);
                return 2;
            }
        }
    }
    if (opt.payload > (int)sizeof payload_pad) opt.payload = sizeof payload_pad;
    if (opt.src_ips < 1 || opt.src_ips > 254) opt.src_ips = 1;
    memset(payload_pad, 'x', sizeof payload_pad);

    /* file descriptors: one per client plus a few */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)opt.clients + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)opt.clients + 64) {
            fprintf(stderr, "RLIMIT_NOFILE %llu too low for %d clients\n", (unsigned long long)rl.rlim_cur,
                    opt.clients);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1) {
        fprintf(stderr, "bad --host (IPv4 literal expected): %s\n", opt.host);
        return 2;
    }
    web_addr = server_addr;
    web_addr.sin_port = htons((uint16_t)opt.web_port);
    rng_state = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    if (!rng_state) rng_state = 1;

    size_t nsend = (size_t)(opt.senders ? opt.senders : 1);
    conns = calloc((size_t)opt.clients, sizeof *conns);
    senders = calloc(nsend, sizeof *senders);
    fanout = calloc(nsend, sizeof *fanout);
    fanout_web = calloc(nsend, sizeof *fanout_web);
    wss = calloc(opt.web_clients ? (size_t)opt.web_clients : 1, sizeof *wss);
    if (!fanout_web || !wss) { perror("calloc"); return 2; }
    room_name = calloc((size_t)opt.rooms, sizeof *room_name);
    room_receiver = calloc((size_t)opt.rooms, sizeof *room_receiver);
    if (!fanout || !room_name || !room_receiver) { perror("calloc"); return 2; }
    for (int r = 0; r < opt.rooms; r++) {
        char *nm = room_name[r];
        if (opt.rooms == 1) snprintf(nm, sizeof *room_name, "%s", opt.channel);
        else if (opt.proto == P_IRC) snprintf(nm, sizeof *room_name, "%s%d", opt.channel, r);
        else { /* the last word of the join command */
            char cmd[300];
            int n = lc_join_cmd(r, cmd, sizeof cmd);
            while (n > 0 && cmd[n - 1] == ' ') cmd[--n] = 0;
            const char *w = strrchr(cmd, ' ');
            snprintf(nm, sizeof *room_name, "%.63s", w ? w + 1 : cmd);
        }
        room_receiver[r] = r + (opt.clients - 1 - r) / opt.rooms * opt.rooms; /* the room's last member */
    }
    recv_cnt = calloc((size_t)opt.clients * nsend, sizeof *recv_cnt);
    recv_last = calloc((size_t)opt.clients * nsend, sizeof *recv_last);
    steps = calloc(MAX_STEPS, sizeof *steps);
    rbuf = malloc(RBUF_SIZE);
    if (!conns || !senders || !recv_cnt || !recv_last || !steps || !rbuf) { perror("calloc"); return 2; }
    for (int i = 0; i < opt.clients; i++) {
        conns[i].fd = -1;
        int n = snprintf(conns[i].nick, sizeof conns[i].nick, "%s%05d", opt.nick_prefix, i);
        conns[i].nick_len = (uint8_t)n;
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) { perror("epoll_create1"); return 2; }

    t_begin = now_ns();
    last_progress_t = t_begin;
    cpu_at_begin = cpu_self_ns();
    srv_cpu_begin = proc_cpu_s(opt.server_pid);
    read_cpus(&cs_begin);
    read_kstat(&ks_begin);
    rss_start = proc_status_kb(opt.server_pid, "VmRSS");
    uint64_t hard_stop = t_begin + (uint64_t)(opt.max_runtime * 1e9);

    struct epoll_event evs[MAXEV];
    while (phase != PH_DONE) {
        uint64_t now = now_ns();
        if (interrupted) break;
        if (now >= hard_stop) {
            aborted = 1;
            note_error("max runtime reached in phase %s", phase_name[phase]);
            break;
        }
        advance_phase(now);
        if (phase == PH_DONE) break;
        launch_connections(now);
        pump_senders(now);
        progress(now);
        int n = epoll_wait(epfd, evs, MAXEV, compute_timeout_ms(now));
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            break;
        }
        now = now_ns();
        for (int k = 0; k < n; k++) handle_event(&evs[k], now);
    }
    t_end = now_ns();
    if (cur && phase == PH_MEASURE) end_measure(t_end); /* interrupted mid-measurement */
    if (cur && !cur->t_done) { /* stopped before the step ended */
        cur->t_done = t_end;
        read_kstat(&cur->k1);
    }
    if (!t_all_joined) {
        t_all_joined = t_end;
        cpu_at_joined = cpu_self_ns();
        srv_cpu_joined = proc_cpu_s(opt.server_pid);
        read_cpus(&cs_joined);
        read_kstat(&ks_joined);
    }
    read_kstat(&ks_end);
    cpu_at_end = cpu_self_ns();
    rss_end = proc_status_kb(opt.server_pid, "VmRSS");
    hwm_end = proc_status_kb(opt.server_pid, "VmHWM");
    if (rss_joined < 0) rss_joined = rss_end;

    report();

    /* Close with RST (SO_LINGER 0) so no TIME_WAIT sockets pile up between runs. */
    struct linger lg = {1, 0};
    for (int i = 0; i < opt.clients; i++) {
        if (conns[i].fd >= 0) {
            setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(conns[i].fd);
        }
    }
    return aborted ? 3 : 0;
}
