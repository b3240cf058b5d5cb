// The well-known ports of shared/DESIGN.md §4; a public interface, change only with a note.
export const ports = {
  proxyAdmin: 15000,
  proxyOutbound: 15001,
  proxyInbound: 15006,
  controlXds: 15010,
  controlApi: 15080,
} as const;
