#!/usr/bin/env python3
"""Mark one version requirement of an ELF64 shared object as weak (VER_FLG_WEAK).

Why: TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and
requires the version node GLIBCXX_3.4.32 for a single symbol (std::ios_base_library_init,
an empty function). Debian 12's libstdc++ stops at GLIBCXX_3.4.30. A weak version
requirement lets the dynamic loader accept its absence; the symbol itself is provided by
a one-line shim (see install.sh). Layout: ELF64 spec, Verneed/Vernaux from the
GNU symbol-versioning extension (sections of type SHT_GNU_verneed = 0x6ffffffe).

usage: elf_weaken_version.py FILE VERSION   (prints 'patched', 'already weak' or 'absent')
"""
import struct
import sys

SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def main(path: str, version: str) -> int:
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            print(f"{path}: not a little-endian ELF64 file", file=sys.stderr)
            return 2
        e_shoff, = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = []
        for i in range(e_shnum):
            off = e_shoff + i * e_shentsize
            sh_name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, sh_info = struct.unpack_from(
                "<IIQQQQII", data, off)
            sections.append((sh_type, sh_offset, sh_size, sh_link, sh_info))
        result = "absent"
        for sh_type, sh_offset, _size, sh_link, sh_info in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            strtab = sections[sh_link][1]
            vn = sh_offset
            for _ in range(sh_info):  # sh_info = number of Verneed entries
                _vn_version, vn_cnt, _vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, vn)
                aux = vn + vn_aux
                for _ in range(vn_cnt):
                    _hash, flags, _other, name_off, vna_next = struct.unpack_from("<IHHII", data, aux)
                    end = data.index(b"\0", strtab + name_off)
                    name = data[strtab + name_off:end].decode()
                    if name == version:
                        if flags & VER_FLG_WEAK:
                            result = "already weak"
                        else:
                            struct.pack_into("<H", data, aux + 4, flags | VER_FLG_WEAK)
                            result = "patched"
                    if vna_next == 0:
                        break
                    aux += vna_next
                if vn_next == 0:
                    break
                vn += vn_next
        if result == "patched":
            f.seek(0)
            f.write(data)
        print(result)
        return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
