/// The IDX reader: every element type, malformed and truncated input, and the real MNIST files.
module Research.Core.Tests.IdxTests

open System
open System.Buffers.Binary
open System.IO
open Expecto
open Research.Tests.Checks
open FsCheck
open FsCheck.FSharp
open Research.Core.Data
open Research.Core.Tests.TensorTestSupport

/// An IDX file: 00 00, type code, dimension count, big-endian dimensions, then the data.
let idxBytes (typeCode: byte) (shape: int[]) (data: byte[]) =
    let header = Array.zeroCreate<byte> (4 + 4 * shape.Length)
    header.[2] <- typeCode
    header.[3] <- byte shape.Length
    shape |> Array.iteri (fun i n -> BinaryPrimitives.WriteInt32BigEndian(Span(header, 4 + 4 * i, 4), n))
    Array.append header data

/// Big-endian bytes of values.
let bigEndian (size: int) (write: byte[] -> int -> 'T -> unit) (values: 'T[]) =
    let bytes = Array.zeroCreate<byte> (size * values.Length)
    values |> Array.iteri (fun i v -> write bytes (i * size) v)
    bytes

let parseError (bytes: byte[]) =
    (raises<InvalidDataException> (fun () -> Idx.parse ("test.idx", bytes) |> ignore)).Message

[<Tests>]
let tests =
    testList "IdxTests" [
        testCase "every element type reads back big-endian values" <| fun () ->
            let shape = [| 2; 3 |]
            let check (code: byte) (expected: Array) (data: byte[]) =
                let idx = Idx.parse ("typed.idx", idxBytes code shape data)
                Expect.sequenceEqual idx.Shape shape "idx.Shape"
                Expect.equal idx.Data expected "idx.Data"
            check 0x08uy [| 0uy; 1uy; 127uy; 128uy; 200uy; 255uy |] [| 0uy; 1uy; 127uy; 128uy; 200uy; 255uy |]
            check 0x09uy [| 0y; 1y; 127y; -128y; -56y; -1y |] [| 0uy; 1uy; 127uy; 128uy; 200uy; 255uy |]
            let shorts = [| 0s; 1s; -1s; 32767s; -32768s; 258s |]
            check 0x0Buy shorts (bigEndian 2 (fun b i v -> BinaryPrimitives.WriteInt16BigEndian(Span(b, i, 2), v)) shorts)
            let ints = [| 0; 1; -1; Int32.MaxValue; Int32.MinValue; 16909060 |]
            check 0x0Cuy ints (bigEndian 4 (fun b i v -> BinaryPrimitives.WriteInt32BigEndian(Span(b, i, 4), v)) ints)
            let singles = [| 0.0f; 1.5f; -2.25f; Single.MaxValue; Single.Epsilon; 3.14159f |]
            check 0x0Duy singles (bigEndian 4 (fun b i v -> BinaryPrimitives.WriteSingleBigEndian(Span(b, i, 4), v)) singles)
            let doubles = [| 0.0; 1.5; -2.25; Double.MaxValue; Double.Epsilon; Math.PI |]
            check 0x0Euy doubles (bigEndian 8 (fun b i v -> BinaryPrimitives.WriteDoubleBigEndian(Span(b, i, 8), v)) doubles)
        testCase "malformed headers are named" <| fun () ->
            Expect.stringContains (parseError [| 0uy; 0uy |]) "test.idx" "parseError [| 0uy; 0uy |]"
            Expect.stringContains (parseError [| 0uy; 0uy |]) "expected a 4-byte header, found 2 bytes" "parseError [| 0uy; 0uy |]"
            Expect.stringContains (parseError (Array.append [| 1uy |] (idxBytes 0x08uy [| 1 |] [| 5uy |]).[1..])) "bad magic 01 00" "parseError (Array.append [| 1uy |] (idxBytes 0x08uy [| 1 |] [| 5uy |]).[1..])"
            Expect.stringContains (parseError (idxBytes 0x07uy [| 1 |] [| 5uy |])) "unknown element type code 0x07" "parseError (idxBytes 0x07uy [| 1 |] [| 5uy |])"
            Expect.stringContains (parseError (idxBytes 0x08uy [||] [||])) "declares 0 dimensions" "parseError (idxBytes 0x08uy [||] [||])"
            Expect.stringContains (parseError (idxBytes 0x08uy [| 1; 1; 1 |] [||]).[..11]) "declares 3 dimensions (16 bytes) but the file has 12 bytes" "parseError (idxBytes 0x08uy [| 1; 1; 1 |] [||]).[..11]"
            Expect.stringContains (parseError (idxBytes 0x08uy [| 2; -4 |] [||])) "dimension 1 is negative (-4)" "parseError (idxBytes 0x08uy [| 2; -4 |] [||])"
            Expect.stringContains (parseError (idxBytes 0x0Cuy [| 2; 3 |] (Array.zeroCreate 25))) "expected 24 bytes of data, found 25" "parseError (idxBytes 0x0Cuy [| 2; 3 |] (Array.zeroCreate 25))"
        testCase "every truncation of a valid file is rejected with a clear message" <| fun () ->
            let whole = idxBytes 0x0Duy [| 3; 4; 5 |] (Array.zeroCreate (3 * 4 * 5 * 4))
            Expect.sequenceEqual ((Idx.parse ("whole.idx", whole)).Shape) [| 3; 4; 5 |] "(Idx.parse (\"whole.idx\", whole)).Shape"
            for length in 0 .. whole.Length - 1 do
                let message = parseError whole.[.. length - 1]
                Expect.stringContains message "test.idx" "message"
                if length >= 16 then
                    Expect.stringContains message ($"expected 240 bytes of data, found {length - 16}") "message"
        testPropertyWithConfig ({ FsCheckConfig.defaultConfig with maxTest = 2000 }) "random bytes give a parsed array or a clear exception, never anything else" (
            // Half the inputs start like an IDX file, so the checks past the magic are reached too.
            let plausible =
                gen {
                    let! code = Gen.elements [ 0x08uy; 0x09uy; 0x0Buy; 0x0Cuy; 0x0Duy; 0x0Euy; 0x0Auy ]
                    let! dims = Gen.choose (0, 3)
                    let! sizes = Gen.arrayOfLength dims (Gen.choose (0, 4))
                    let! data = Gen.arrayOf (Gen.choose (0, 255) |> Gen.map byte)
                    return idxBytes code sizes data
                }
            let bytes = Gen.oneof [ plausible; Gen.arrayOf (Gen.choose (0, 255) |> Gen.map byte) ]
            let property (input: byte[]) =
                try
                    let idx = Idx.parse ("random.idx", input)
                    // Accepted: the header accounts for every byte.
                    idx.Data.Length = Array.fold (*) 1 idx.Shape
                with :? InvalidDataException as e ->
                    e.Message.StartsWith "IDX file 'random.idx': "
            Prop.forAll (Arb.fromGen bytes) property)
        testCase "a missing file is named" <| fun () ->
            let e = raises<FileNotFoundException> (fun () -> Idx.read "/nonexistent/train-images-idx3-ubyte" |> ignore)
            Expect.stringContains e.Message "/nonexistent/train-images-idx3-ubyte" "e.Message"
        testList "RealMnist" [
            testCase "the MNIST files read with their shapes and PyTorch's label histograms" <| fun () ->
                withPyTorch (fun () ->
                    let file name = DataFolder.file (Path.Combine("mnist", name), None)
                    // An independent reading of the label files: struct and a byte count.
                    let folder = file "train-labels-idx1-ubyte" |> Path.GetDirectoryName |> sprintf "%A"
                    let py =
                        runPython
                            $"""
import struct
out = {{}}
for name in ['train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte']:
    data = open({folder} + '/' + name, 'rb').read()
    magic, n = struct.unpack('>II', data[:8])
    out[name] = [magic, n] + torch.bincount(torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long(), minlength=10).tolist()
print(json.dumps(out))
"""
                    for name, count in [ "train", 60000; "t10k", 10000 ] do
                        let images = Idx.read (file $"{name}-images-idx3-ubyte")
                        Expect.equal images.ElementType IdxElementType.UInt8 "images.ElementType"
                        Expect.sequenceEqual images.Shape [| count; 28; 28 |] "images.Shape"
                        let labels = Idx.read (file $"{name}-labels-idx1-ubyte")
                        Expect.sequenceEqual labels.Shape [| count |] "labels.Shape"
                        let histogram = Array.zeroCreate<int> 10
                        for l in labels.Data :?> byte[] do
                            histogram.[int l] <- histogram.[int l] + 1
                        let expected = [| for v in py.GetProperty($"{name}-labels-idx1-ubyte").EnumerateArray() -> v.GetInt32() |]
                        Expect.equal (expected.[0]) (0x0801) "expected.[0]"
                        Expect.equal (expected.[1]) count "expected.[1]"
                        Expect.sequenceEqual histogram (expected.[2..]) "histogram")
        ]
    ]
