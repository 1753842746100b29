namespace Research.Core.IO

open System
open System.Buffers.Binary
open System.IO
open System.IO.Compression
open System.Runtime.InteropServices
open System.Text

/// 8-bit pixels, rows top to bottom, channels interleaved (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
type PngImage =
    { Width: int
      Height: int
      Channels: int
      Pixels: byte[] }

/// PNG files (ISO/IEC 15948): an 8-byte signature, then chunks of
/// [length: u32 BE][type: 4 ASCII][data][CRC-32 of type+data]; pixels are zlib-compressed
/// scanlines, each prefixed by a filter byte.
[<AbstractClass; Sealed>]
type Png =
    static let signature = [| 137uy; 80uy; 78uy; 71uy; 13uy; 10uy; 26uy; 10uy |]

    static let colorTypeOfChannels = dict [ 1, 0uy; 2, 4uy; 3, 2uy; 4, 6uy ]
    static let channelsOfColorType = dict [ 0uy, 1; 4uy, 2; 2uy, 3; 6uy, 4 ]

    static let writeChunk (out: Stream) (kind: string) (data: byte[]) =
        let header = Array.zeroCreate<byte> 8
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(0, 4), uint32 data.Length)
        Encoding.ASCII.GetBytes(kind, 0, 4, header, 4) |> ignore
        let crc = Array.zeroCreate<byte> 4
        BinaryPrimitives.WriteUInt32BigEndian(crc.AsSpan(), Crc32.ofRanges [ header, 4, 4; data, 0, data.Length ])
        out.Write(header, 0, 8)
        out.Write(data, 0, data.Length)
        out.Write(crc, 0, 4)

    /// Scanlines with filter type 0 (None): the images here are small and zlib alone does well.
    static let encode (width: int) (height: int) (channels: int) (pixels: byte[]) =
        if width <= 0 || height <= 0 then
            invalidArg "width" $"a PNG needs a positive size, got {width}x{height}"
        if pixels.Length <> width * height * channels then
            invalidArg "pixels" $"expected {width}x{height}x{channels} = {width * height * channels} bytes, got {pixels.Length}"
        let ihdr = Array.zeroCreate<byte> 13
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(0, 4), uint32 width)
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4, 4), uint32 height)
        ihdr[8] <- 8uy // bit depth
        ihdr[9] <- colorTypeOfChannels[channels]
        // compression 0 (deflate), filter method 0, interlace 0: already zero
        let rowBytes = width * channels
        let compressed = new MemoryStream()
        using (new ZLibStream(compressed, CompressionLevel.SmallestSize, true)) (fun z ->
            for row in 0 .. height - 1 do
                z.WriteByte 0uy
                z.Write(pixels, row * rowBytes, rowBytes))
        use out = new MemoryStream()
        out.Write(signature, 0, signature.Length)
        writeChunk out "IHDR" ihdr
        writeChunk out "IDAT" (compressed.ToArray())
        writeChunk out "IEND" [||]
        out.ToArray()

    static let paeth (a: int) (b: int) (c: int) =
        let p = a + b - c
        let pa, pb, pc = abs (p - a), abs (p - b), abs (p - c)
        if pa <= pb && pa <= pc then a elif pb <= pc then b else c

    /// Reverses the five scanline filters (PNG spec section 9) in place of `filtered`.
    static let unfilter (filtered: byte[]) (width: int) (height: int) (bpp: int) =
        let rowBytes = width * bpp
        if filtered.Length <> height * (rowBytes + 1) then
            raise (InvalidDataException $"PNG image data has {filtered.Length} bytes, expected {height * (rowBytes + 1)} for {width}x{height}")
        let pixels = Array.zeroCreate<byte> (height * rowBytes)
        for row in 0 .. height - 1 do
            let src = row * (rowBytes + 1)
            let dst = row * rowBytes
            let up i = if row = 0 then 0 else int pixels[dst - rowBytes + i]
            let left i = if i < bpp then 0 else int pixels[dst + i - bpp]
            let upLeft i = if row = 0 || i < bpp then 0 else int pixels[dst - rowBytes + i - bpp]
            let filter = filtered[src]
            for i in 0 .. rowBytes - 1 do
                let x = int filtered[src + 1 + i]
                let predictor =
                    match filter with
                    | 0uy -> 0
                    | 1uy -> left i
                    | 2uy -> up i
                    | 3uy -> (left i + up i) / 2
                    | 4uy -> paeth (left i) (up i) (upLeft i)
                    | f -> raise (InvalidDataException $"PNG row {row} has unknown filter type {f}")
                pixels[dst + i] <- byte ((x + predictor) &&& 0xFF)
        pixels

    static let decode (bytes: byte[]) =
        if bytes.Length < 8 || not (bytes.AsSpan(0, 8).SequenceEqual(ReadOnlySpan signature)) then
            raise (InvalidDataException "not a PNG file (bad signature)")
        let mutable offset = 8
        let mutable header = None
        let idat = new MemoryStream()
        let mutable ended = false
        while not ended do
            if offset + 12 > bytes.Length then
                raise (InvalidDataException $"PNG truncated at byte {offset} (no IEND chunk)")
            let length = BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(bytes, offset, 4))
            let kind = Encoding.ASCII.GetString(bytes, offset + 4, 4)
            if int64 offset + 12L + int64 length > int64 bytes.Length then
                raise (InvalidDataException $"PNG chunk {kind} at byte {offset} claims {length} bytes, beyond the end of the file")
            let length = int length
            let stored = BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(bytes, offset + 8 + length, 4))
            let computed = Crc32.ofRanges [ bytes, offset + 4, 4 + length ]
            if stored <> computed then
                raise (InvalidDataException $"PNG chunk {kind} at byte {offset} has CRC {stored:x8}, computed {computed:x8}")
            let data = ReadOnlySpan(bytes, offset + 8, length)
            match kind with
            | "IHDR" ->
                if length <> 13 then raise (InvalidDataException $"PNG IHDR has {length} bytes, expected 13")
                let width = int (BinaryPrimitives.ReadUInt32BigEndian(data.Slice(0, 4)))
                let height = int (BinaryPrimitives.ReadUInt32BigEndian(data.Slice(4, 4)))
                let depth, colorType, interlace = data[8], data[9], data[12]
                if width <= 0 || height <= 0 then raise (InvalidDataException $"PNG size {width}x{height} is invalid")
                if depth <> 8uy then raise (InvalidDataException $"PNG bit depth {depth} is not supported (only 8)")
                if not (channelsOfColorType.ContainsKey colorType) then
                    raise (InvalidDataException $"PNG color type {colorType} is not supported (gray, gray+alpha, RGB, RGBA)")
                if interlace <> 0uy then raise (InvalidDataException "interlaced PNGs are not supported")
                header <- Some(width, height, channelsOfColorType[colorType])
            | "IDAT" -> idat.Write data
            | "IEND" -> ended <- true
            | _ -> () // ancillary chunks (gamma, text, ...) do not change 8-bit pixel values
            offset <- offset + 12 + length
        match header with
        | None -> raise (InvalidDataException "PNG has no IHDR chunk")
        | Some(width, height, channels) ->
            idat.Position <- 0L
            let filtered =
                try
                    use z = new ZLibStream(idat, CompressionMode.Decompress)
                    use raw = new MemoryStream()
                    z.CopyTo raw
                    raw.ToArray()
                with :? InvalidDataException as e ->
                    raise (InvalidDataException($"PNG image data is not valid zlib: {e.Message}", e))
            { Width = width
              Height = height
              Channels = channels
              Pixels = unfilter filtered width height channels }

    /// An 8-bit grayscale PNG from width*height bytes.
    static member EncodeGray(width: int, height: int, pixels: byte[]) = encode width height 1 pixels

    /// An 8-bit RGB PNG from width*height*3 bytes (r, g, b per pixel).
    static member EncodeRgb(width: int, height: int, pixels: byte[]) = encode width height 3 pixels

    /// Intensities in [0, 1] (clamped) to an 8-bit grayscale PNG, row-major.
    static member OfUnitFloats(width: int, height: int, values: float32[]) =
        let toByte (v: float32) = byte (MathF.Round(255.0f * Math.Clamp(v, 0.0f, 1.0f)))
        encode width height 1 (Array.map toByte values)

    /// Tiles `count` images of height x width (values in [0, 1], image after image in `images`)
    /// into a rows x cols grid separated and framed by `padding` pixels of `padValue`,
    /// as torchvision.utils.make_grid does; cells beyond the last image keep the pad value.
    static member Grid
        (
            images: float32[],
            height: int,
            width: int,
            rows: int,
            cols: int,
            [<Optional; DefaultParameterValue(2)>] padding: int,
            [<Optional; DefaultParameterValue(0.5f)>] padValue: float32
        ) =
        let pixelsPerImage = height * width
        if pixelsPerImage <= 0 || images.Length % pixelsPerImage <> 0 then
            invalidArg "images" $"{images.Length} values are not a whole number of {height}x{width} images"
        let count = images.Length / pixelsPerImage
        if count > rows * cols then
            invalidArg "images" $"{count} images do not fit a {rows}x{cols} grid"
        if padding < 0 then invalidArg "padding" $"padding must be >= 0, got {padding}"
        let gridWidth = cols * (width + padding) + padding
        let gridHeight = rows * (height + padding) + padding
        let grid = Array.create (gridWidth * gridHeight) padValue
        for n in 0 .. count - 1 do
            let top = padding + (n / cols) * (height + padding)
            let left = padding + (n % cols) * (width + padding)
            for r in 0 .. height - 1 do
                Array.blit images (n * pixelsPerImage + r * width) grid ((top + r) * gridWidth + left) width
        Png.OfUnitFloats(gridWidth, gridHeight, grid)

    /// Decodes 8-bit, non-interlaced gray / gray+alpha / RGB / RGBA PNGs, checking every chunk's CRC.
    static member Decode(bytes: byte[]) = decode bytes

    static member Read(path: string) =
        try
            decode (File.ReadAllBytes path)
        with :? InvalidDataException as e ->
            raise (InvalidDataException($"{path}: {e.Message}", e))
