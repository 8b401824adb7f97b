// ZIP archives as a hostile client crafts them: manager/zip.ts (yazl) writes only well-formed ones.
import { crc32, deflateRawSync } from 'node:zlib'

/**
 * A minimal zip writer (stored or deflated entries), so tests can craft entries no zip tool would write: names
 * escaping the folder (`../x`, `/etc/x`), sizes that lie (`declaredSize`), bombs.
 */
export function craftZip (entries: Array<{ name: string, data: Buffer, deflate?: boolean, declaredSize?: number }>): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const e of entries) {
    const body = e.deflate === true ? deflateRawSync(e.data) : e.data
    const name = Buffer.from(e.name)
    const header = Buffer.alloc(30)
    header.writeUInt32LE(0x04034b50, 0); header.writeUInt16LE(20, 4); header.writeUInt16LE(e.deflate === true ? 8 : 0, 8)
    header.writeUInt32LE(crc32(e.data), 14); header.writeUInt32LE(body.length, 18)
    header.writeUInt32LE(e.declaredSize ?? e.data.length, 22); header.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6)
    central.writeUInt16LE(e.deflate === true ? 8 : 0, 10); central.writeUInt32LE(crc32(e.data), 16)
    central.writeUInt32LE(body.length, 20); central.writeUInt32LE(e.declaredSize ?? e.data.length, 24)
    central.writeUInt16LE(name.length, 28); central.writeUInt32LE(offset, 42)
    locals.push(header, name, body)
    centrals.push(central, name)
    offset += header.length + name.length + body.length
  }
  const cd = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, cd, end])
}
