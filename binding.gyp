{
  "targets": [
    {
      "target_name": "original_dst",
      "sources": ["native/original-dst.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
