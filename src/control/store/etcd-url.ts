/** Where an etcd-backed control plane keeps its state: `etcd://HOST:PORT[,HOST:PORT...][/prefix]`. */
export interface EtcdLocation {
  /** `http://host:port` for each member given. */
  hosts: string[];
  /** Every key Trellis writes starts with this; ends with `/`. */
  prefix: string;
}

export function parseEtcdUrl(url: string): EtcdLocation {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw new Error(`invalid etcd store URL "${url}": expected etcd://HOST:PORT[,HOST:PORT...][/prefix]`);
  const hosts = m[1].split(',').map((hp) => {
    const hm = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(hp.trim());
    if (!hm || Number(hm[2]) < 1 || Number(hm[2]) > 65535) throw new Error(`invalid etcd member "${hp}" in "${url}": expected HOST:PORT`);
    return `http://${hm[1]}:${hm[2]}`;
  });
  const rawPrefix = m[2] && m[2] !== '/' ? m[2] : '/trellis';
  const prefix = rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  return { hosts, prefix };
}
