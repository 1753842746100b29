namespace Research.Core.Data

open System
open System.Buffers.Binary
open System.IO

/// The element type named by an IDX file's third magic byte.
type IdxElementType =
    | UInt8 = 0x08
    | Int8 = 0x09
    | Int16 = 0x0B
    | Int32 = 0x0C
    | Float32 = 0x0D
    | Float64 = 0x0E

/// An IDX array (LeCun's format for MNIST): element type, dimensions and the elements in host order.
/// Data is a byte[], sbyte[], int16[], int32[], float32[] or float[] according to ElementType.
type IdxArray =
    { Source: string
      ElementType: IdxElementType
      Shape: int[]
      Data: Array }

/// Reads IDX files: magic 00 00 TT NN, then NN big-endian int32 dimensions, then the elements big-endian.
/// Malformed or truncated input raises InvalidDataException naming the source and the problem.
module Idx =

    let private itemSize (t: IdxElementType) =
        match t with
        | IdxElementType.UInt8
        | IdxElementType.Int8 -> 1
        | IdxElementType.Int16 -> 2
        | IdxElementType.Int32
        | IdxElementType.Float32 -> 4
        | _ -> 8

    let private fail (source: string) (problem: string) =
        raise (InvalidDataException(sprintf "IDX file '%s': %s" source problem))

    /// The `length` bytes at `offset`, big-endian elements, as a host-order array of the element type.
    let private decode (t: IdxElementType) (bytes: byte[]) (offset: int) (length: int) : Array =
        let hostOrder (out: 'T[]) =
            let data = Array.sub bytes offset length
            let size = itemSize t
            if BitConverter.IsLittleEndian && size > 1 then
                for i in 0 .. size .. length - 1 do
                    Array.Reverse(data, i, size)
            Buffer.BlockCopy(data, 0, out, 0, length)
            out :> Array
        match t with
        | IdxElementType.UInt8 -> Array.sub bytes offset length :> Array
        | IdxElementType.Int8 -> hostOrder (Array.zeroCreate<sbyte> length)
        | IdxElementType.Int16 -> hostOrder (Array.zeroCreate<int16> (length / 2))
        | IdxElementType.Int32 -> hostOrder (Array.zeroCreate<int32> (length / 4))
        | IdxElementType.Float32 -> hostOrder (Array.zeroCreate<float32> (length / 4))
        | _ -> hostOrder (Array.zeroCreate<float> (length / 8))

    /// Parses the bytes of an IDX file; `source` names it in error messages.
    let parse (source: string, bytes: byte[]) : IdxArray =
        if bytes.Length < 4 then
            fail source (sprintf "expected a 4-byte header, found %d bytes" bytes.Length)
        if bytes[0] <> 0uy || bytes[1] <> 0uy then
            fail source (sprintf "bad magic %02X %02X (an IDX file starts with 00 00)" bytes[0] bytes[1])
        let elementType = LanguagePrimitives.EnumOfValue<int, IdxElementType>(int bytes[2])
        if not (Enum.IsDefined elementType) then
            fail source (sprintf "unknown element type code 0x%02X (expected 08, 09, 0B, 0C, 0D or 0E)" bytes[2])
        let dims = int bytes[3]
        if dims = 0 then
            fail source "the header declares 0 dimensions"
        let headerLength = 4 + 4 * dims
        if bytes.Length < headerLength then
            fail source (sprintf "the header declares %d dimensions (%d bytes) but the file has %d bytes" dims headerLength bytes.Length)
        let shape =
            Array.init dims (fun d -> BinaryPrimitives.ReadInt32BigEndian(ReadOnlySpan(bytes, 4 + 4 * d, 4)))
        match Array.tryFindIndex (fun n -> n < 0) shape with
        | Some d -> fail source (sprintf "dimension %d is negative (%d)" d shape[d])
        | None -> ()
        let count = shape |> Array.fold (fun acc n -> acc * bigint n) 1I
        let expected = count * bigint (itemSize elementType)
        let found = bytes.Length - headerLength
        if expected <> bigint found then
            fail source (sprintf "shape [%s] of %A expected %O bytes of data, found %d" (String.Join(", ", shape)) elementType expected found)
        { Source = source
          ElementType = elementType
          Shape = shape
          Data = decode elementType bytes headerLength found }

    /// Reads an IDX file.
    let read (path: string) : IdxArray =
        if Directory.Exists path then
            raise (FileNotFoundException(sprintf "'%s' is a folder, not an IDX file" path, path))
        if not (File.Exists path) then
            raise (FileNotFoundException(sprintf "IDX file '%s' does not exist" path, path))
        parse (path, File.ReadAllBytes path)
