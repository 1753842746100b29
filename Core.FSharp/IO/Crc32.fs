/// CRC-32 as used by PNG chunks (ISO 3309 / ITU-T V.42: reflected polynomial 0xEDB88320,
/// initial value and final xor 0xFFFFFFFF), table-driven one byte at a time.
module Research.Core.IO.Crc32

let private table =
    Array.init 256 (fun n ->
        let mutable c = uint32 n
        for _ in 1..8 do
            c <- if c &&& 1u <> 0u then 0xEDB88320u ^^^ (c >>> 1) else c >>> 1
        c)

/// CRC of byte ranges (array, offset, count) taken in order, as if concatenated
/// (a PNG chunk's CRC covers its type and then its data).
let ofRanges (ranges: (byte[] * int * int) list) =
    let mutable crc = 0xFFFFFFFFu
    for (bytes, offset, count) in ranges do
        for i in offset .. offset + count - 1 do
            crc <- table[int ((crc ^^^ uint32 bytes[i]) &&& 0xFFu)] ^^^ (crc >>> 8)
    crc ^^^ 0xFFFFFFFFu

let ofBytes (bytes: byte[]) = ofRanges [ bytes, 0, bytes.Length ]
