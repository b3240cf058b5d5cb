// originalDestination(fd): where a connection that iptables REDIRECTed was going before the
// redirect (SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for IPv6), read from the kernel's
// connection tracking. Node has no API for it; this is the whole addon, on purpose.
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

// linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h; their headers clash with glibc's
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static const char *errno_code(int e) {
  switch (e) {
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOENT: return "ENOENT";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EINVAL: return "EINVAL";
    case ENOTCONN: return "ENOTCONN";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EIO";
  }
}

// Throws an Error whose .code is the errno name (callers branch on the code, never the text).
static napi_value throw_errno(napi_env env, int e, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_throw_error(env, errno_code(e), msg);
  return NULL;
}

static napi_value make_result(napi_env env, const char *address, int port, int family) {
  napi_value obj, v;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &v) != napi_ok || napi_set_named_property(env, obj, "address", v) != napi_ok) return NULL;
  if (napi_create_int32(env, port, &v) != napi_ok || napi_set_named_property(env, obj, "port", v) != napi_ok) return NULL;
  if (napi_create_int32(env, family, &v) != napi_ok || napi_set_named_property(env, obj, "family", v) != napi_ok) return NULL;
  return obj;
}

static napi_value original_destination(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "originalDestination(fd): fd must be a number");
    return NULL;
  }
  double raw = 0;
  napi_get_value_double(env, argv[0], &raw);
  if (!(raw >= 0 && raw <= 2147483647.0) || raw != (double)(int)raw) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "originalDestination(fd): fd must be a whole number >= 0");
    return NULL;
  }
  int fd = (int)raw;

  // The socket's own family decides which option to ask for.
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return throw_errno(env, errno, "getsockname");

  char text[INET6_ADDRSTRLEN];
  if (local.ss_family == AF_INET) {
    struct sockaddr_in dst;
    len = sizeof dst;
    memset(&dst, 0, sizeof dst);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) return throw_errno(env, errno, "getsockopt(SO_ORIGINAL_DST)");
    if (inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text) == NULL) return throw_errno(env, errno, "inet_ntop");
    return make_result(env, text, ntohs(dst.sin_port), 4);
  }
  if (local.ss_family == AF_INET6) {
    struct sockaddr_in6 dst6;
    len = sizeof dst6;
    memset(&dst6, 0, sizeof dst6);
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst6, &len) == 0) {
      if (inet_ntop(AF_INET6, &dst6.sin6_addr, text, sizeof text) == NULL) return throw_errno(env, errno, "inet_ntop");
      return make_result(env, text, ntohs(dst6.sin6_port), 6);
    }
    // an IPv4 connection accepted on a dual-stack socket is tracked (and redirected) as IPv4
    int e6 = errno;
    struct sockaddr_in dst;
    len = sizeof dst;
    memset(&dst, 0, sizeof dst);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) return throw_errno(env, e6, "getsockopt(IP6T_SO_ORIGINAL_DST)");
    if (inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text) == NULL) return throw_errno(env, errno, "inet_ntop");
    return make_result(env, text, ntohs(dst.sin_port), 4);
  }
  return throw_errno(env, EAFNOSUPPORT, "originalDestination(fd): not a TCP/IP socket");
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "originalDestination", NAPI_AUTO_LENGTH, original_destination, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "originalDestination", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
