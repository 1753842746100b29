module Research.Analysis.Tests.PngTests

open System
open System.IO
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Core.IO
open Research.Analysis.Tests.TestSupport

/// An independent PNG decoder in Python's standard library: walks the chunks, checks every CRC
/// with zlib.crc32, inflates IDAT with zlib and undoes the five scanline filters.
let private pythonDecoder =
    """
import json, struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'bad signature'
pos, idat, chunks = 8, b'', []
while True:
    length, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(kind + body) & 0xffffffff == crc, 'CRC mismatch in ' + kind.decode()
    chunks.append(kind.decode())
    if kind == b'IHDR':
        width, height, depth, ctype, comp, filt, inter = struct.unpack('>IIBBBBB', body)
    elif kind == b'IDAT':
        idat += body
    pos += 12 + length
    if kind == b'IEND':
        break
assert pos == len(data), 'bytes after IEND'
channels = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
raw = zlib.decompress(idat)
stride = width * channels
out = bytearray()
prev = bytearray(stride)
for r in range(height):
    f = raw[r * (stride + 1)]
    line = bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - channels] if i >= channels else 0
        b = prev[i]
        c = prev[i - channels] if i >= channels else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        else: assert f == 0, 'filter %d' % f
    out += line
    prev = line
print(json.dumps({'width': width, 'height': height, 'depth': depth, 'colorType': ctype,
                  'interlace': inter, 'chunks': chunks, 'pixels': list(out)}))
"""

let private decodeWithPython (png: byte[]) =
    use folder = new TempFolder "png"
    let path = Path.Combine(folder.Path, "image.png")
    File.WriteAllBytes(path, png)
    JsonDocument.Parse(python pythonDecoder [ path ]).RootElement

let private randomBytes (seed: int) (n: int) =
    let bytes = Array.zeroCreate<byte> n
    Random(seed).NextBytes bytes
    bytes

[<Tests>]
let tests =
    testList "PngTests" [
        testCase "grayscale PNG decodes in Python with valid CRCs and the same pixels" <| fun () ->
            let width, height = 37, 11
            let pixels = randomBytes 1 (width * height)
            let decoded = decodeWithPython (Png.EncodeGray(width, height, pixels))
            Expect.equal (decoded.GetProperty("width").GetInt32()) width "decoded.GetProperty(\"width\").GetInt32()"
            Expect.equal (decoded.GetProperty("height").GetInt32()) height "decoded.GetProperty(\"height\").GetInt32()"
            Expect.equal (decoded.GetProperty("depth").GetInt32()) 8 "decoded.GetProperty(\"depth\").GetInt32()"
            Expect.equal (decoded.GetProperty("colorType").GetInt32()) 0 "decoded.GetProperty(\"colorType\").GetInt32()"
            Expect.equal (decoded.GetProperty("chunks").EnumerateArray() |> Seq.map _.GetString() |> Array.ofSeq) [| "IHDR"; "IDAT"; "IEND" |] "decoded.GetProperty(\"chunks\").EnumerateArray() |> Seq.map _.GetString() |> Array.ofSeq"
            Expect.equal (decoded.GetProperty("pixels").EnumerateArray() |> Seq.map (fun e -> byte (e.GetInt32())) |> Array.ofSeq) pixels "decoded.GetProperty(\"pixels\").EnumerateArray() |> Seq.map (fun e -> byte (e.GetInt32())) |> Array.ofSeq"
        testCase "RGB PNG decodes in Python to the same pixels" <| fun () ->
            let width, height = 5, 9
            let pixels = randomBytes 2 (width * height * 3)
            let decoded = decodeWithPython (Png.EncodeRgb(width, height, pixels))
            Expect.equal (decoded.GetProperty("colorType").GetInt32()) 2 "decoded.GetProperty(\"colorType\").GetInt32()"
            Expect.equal (decoded.GetProperty("pixels").EnumerateArray() |> Seq.map (fun e -> byte (e.GetInt32())) |> Array.ofSeq) pixels "decoded.GetProperty(\"pixels\").EnumerateArray() |> Seq.map (fun e -> byte (e.GetInt32())) |> Array.ofSeq"
        testCase "our CRC-32 matches zlib's on random inputs" <| fun () ->
            let inputs = [ [||]; "IEND"B; yield! List.init 5 (fun i -> randomBytes (10 + i) (1 + 97 * i)) ]
            let expected =
                python "import sys, zlib\nfor h in sys.argv[1:]: print(zlib.crc32(bytes.fromhex(h)) & 0xffffffff)" (inputs |> List.map Convert.ToHexString)
                |> fun s -> s.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.map uint32
            Expect.equal (inputs |> List.map Crc32.ofBytes |> Array.ofList) expected "inputs |> List.map Crc32.ofBytes |> Array.ofList"
        testCase "decode reads back what encode wrote" <| fun () ->
            for channels, encode in [ 1, (fun (w, h, p) -> Png.EncodeGray(w, h, p)); 3, (fun (w, h, p) -> Png.EncodeRgb(w, h, p)) ] do
                let pixels = randomBytes channels (13 * 7 * channels)
                let image = Png.Decode(encode (13, 7, pixels))
                Expect.equal (image.Width, image.Height, image.Channels) (13, 7, channels) "(image.Width, image.Height, image.Channels)"
                Expect.equal image.Pixels pixels "image.Pixels"
        testCase "floats in [0,1] map to rounded bytes, clamped outside" <| fun () ->
            let image = Png.Decode(Png.OfUnitFloats(5, 1, [| -0.5f; 0.0f; 0.5f; 1.0f; 7.0f |]))
            Expect.equal image.Pixels [| 0uy; 0uy; 128uy; 255uy; 255uy |] "image.Pixels"
        testCase "grid places each image in its cell with padding" <| fun () ->
            // Three 2x3 images, each a constant (0.2, 0.6, 1.0), in a 2x2 grid with padding 1 of value 0.
            let h, w = 2, 3
            let values = [| 0.2f; 0.6f; 1.0f |]
            let images = values |> Array.collect (fun v -> Array.create (h * w) v)
            let image = Png.Decode(Png.Grid(images, h, w, 2, 2, padding = 1, padValue = 0.0f))
            Expect.equal (image.Width, image.Height) (2 * (w + 1) + 1, 2 * (h + 1) + 1) "(image.Width, image.Height)"
            let expectedAt row col =
                let inCell (p: int) size = p % (size + 1) <> 0
                if not (inCell row h && inCell col w) then 0uy
                else
                    let n = (row / (h + 1)) * 2 + col / (w + 1)
                    if n < values.Length then byte (MathF.Round(255.0f * values[n])) else 0uy
            for row in 0 .. image.Height - 1 do
                for col in 0 .. image.Width - 1 do
                    Expect.equal (image.Pixels[row * image.Width + col]) (expectedAt row col) "image.Pixels[row * image.Width + col]"
        testCase "grid rejects more images than cells" <| fun () ->
            let ex = raises<ArgumentException> (fun () -> Png.Grid(Array.zeroCreate 40, 2, 2, 3, 3) |> ignore)
            Expect.stringContains ex.Message "10 images do not fit a 3x3 grid" "ex.Message"
        testCase "corrupt PNGs are rejected with the problem named" <| fun () ->
            let png = Png.EncodeGray(4, 4, randomBytes 3 16)
            let flipped = Array.copy png
            flipped[png.Length - 20] <- flipped[png.Length - 20] ^^^ 0xFFuy // inside IDAT
            Expect.stringContains ((raises<InvalidDataException> (fun () -> Png.Decode flipped |> ignore)).Message) "CRC" "(raises<InvalidDataException> (fun () -> Png.Decode flipped |> ignore)).Message"
            Expect.stringContains ((raises<InvalidDataException> (fun () -> Png.Decode png[.. png.Length - 13] |> ignore)).Message) "truncated" "(raises<InvalidDataException> (fun () -> Png.Decode png[.. png.Length - 13] |> ignore)).Message"
            Expect.stringContains ((raises<InvalidDataException> (fun () -> Png.Decode "not a png"B |> ignore)).Message) "signature" "raises<InvalidDataException> (fun () -> Png.Decode \"not a png\"B |> ignore).Message"
            use folder = new TempFolder "png"
            let path = Path.Combine(folder.Path, "bad.png")
            File.WriteAllBytes(path, flipped)
            Expect.stringContains ((raises<InvalidDataException> (fun () -> Png.Read path |> ignore)).Message) path "(raises<InvalidDataException> (fun () -> Png.Read path |> ignore)).Message"
    ]
