namespace Research.Core.Checkpoints

open System
open System.Buffers.Binary
open System.Collections.Generic
open System.IO
open System.Text
open System.Text.Json

/// One tensor of a safetensors file as bytes: dtype code ("F32", "F64", "I64", "U8", "BOOL"),
/// shape, and its elements little-endian, row-major.
type SafetensorsEntry =
    { Name: string
      Dtype: string
      Shape: int64[]
      Data: ReadOnlyMemory<byte> }

/// The safetensors byte format: an 8-byte little-endian header length N, N bytes of JSON
///   {"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
/// padded with spaces to a multiple of 8, then the tensors' bytes back to back (offsets are relative
/// to the start of this data section, with no gaps or overlaps).
module SafetensorsFormat =

    /// Bytes per element of each supported dtype code.
    let itemSize (dtype: string) =
        match dtype with
        | "F64"
        | "I64" -> Some 8
        | "F32" -> Some 4
        | "U8"
        | "BOOL" -> Some 1
        | _ -> None

    let private metadataKey = "__metadata__"

    let private fail (source: string) (problem: string) =
        raise (InvalidDataException(sprintf "safetensors file '%s': %s" source problem))

    let private expectedBytes (shape: int64[]) (size: int) =
        shape |> Array.fold (fun acc n -> acc * bigint n) (bigint size)

    /// Writes entries and metadata to a stream.
    let write (stream: Stream, entries: SafetensorsEntry seq, metadata: IReadOnlyDictionary<string, string>) =
        let entries = Seq.toArray entries
        let names = HashSet<string>()
        for e in entries do
            if e.Name = metadataKey || not (names.Add e.Name) then
                invalidArg "entries" (sprintf "tensor name '%s' is reserved or repeated" e.Name)
            match itemSize e.Dtype with
            | None -> invalidArg "entries" (sprintf "tensor '%s' has unsupported dtype '%s'" e.Name e.Dtype)
            | Some size when expectedBytes e.Shape size <> bigint e.Data.Length ->
                invalidArg "entries" (sprintf "tensor '%s': %d bytes of data for shape %A" e.Name e.Data.Length e.Shape)
            | Some _ -> ()
        let json = new MemoryStream()
        do
            use w = new Utf8JsonWriter(json)
            w.WriteStartObject()
            if metadata.Count > 0 then
                w.WriteStartObject metadataKey
                for KeyValue(k, v) in metadata do
                    w.WriteString(k, v)
                w.WriteEndObject()
            let mutable offset = 0L
            for e in entries do
                w.WriteStartObject e.Name
                w.WriteString("dtype", e.Dtype)
                w.WriteStartArray "shape"
                for n in e.Shape do
                    w.WriteNumberValue n
                w.WriteEndArray()
                w.WriteStartArray "data_offsets"
                w.WriteNumberValue offset
                offset <- offset + int64 e.Data.Length
                w.WriteNumberValue offset
                w.WriteEndArray()
                w.WriteEndObject()
            w.WriteEndObject()
        let padding = (8 - int (json.Length % 8L)) % 8
        let header = Array.zeroCreate<byte> 8
        BinaryPrimitives.WriteUInt64LittleEndian(Span header, uint64 (json.Length + int64 padding))
        stream.Write(header, 0, 8)
        json.WriteTo stream
        stream.Write(Array.create padding (byte ' '), 0, padding)
        for e in entries do
            stream.Write e.Data.Span

    let private readShape (source: string) (name: string) (value: JsonElement) =
        let dim (d: JsonElement) =
            match d.ValueKind, (if d.ValueKind = JsonValueKind.Number then d.TryGetInt64() else (false, 0L)) with
            | JsonValueKind.Number, (true, n) when n >= 0L -> n
            | _ -> fail source (sprintf "tensor '%s' has a shape entry that is not a non-negative integer: %s" name (d.GetRawText()))
        match value.TryGetProperty "shape" with
        | true, s when s.ValueKind = JsonValueKind.Array -> [| for d in s.EnumerateArray() -> dim d |]
        | _ -> fail source (sprintf "tensor '%s' has no \"shape\" array" name)

    let private readOffsets (source: string) (name: string) (value: JsonElement) =
        let offset (o: JsonElement) =
            match o.ValueKind, (if o.ValueKind = JsonValueKind.Number then o.TryGetInt64() else (false, 0L)) with
            | JsonValueKind.Number, (true, n) when n >= 0L -> n
            | _ -> fail source (sprintf "tensor '%s' has a data offset that is not a non-negative integer: %s" name (o.GetRawText()))
        match value.TryGetProperty "data_offsets" with
        | true, o when o.ValueKind = JsonValueKind.Array && o.GetArrayLength() = 2 ->
            let o = [| for x in o.EnumerateArray() -> offset x |]
            o[0], o[1]
        | _ -> fail source (sprintf "tensor '%s' has no \"data_offsets\" [begin, end] pair" name)

    /// Parses a whole safetensors file held in memory; `source` names it in error messages.
    /// Returns the entries in file order (their Data are slices of `bytes`) and the metadata.
    let parse (source: string, bytes: byte[]) : SafetensorsEntry[] * IReadOnlyDictionary<string, string> =
        if bytes.Length < 8 then
            fail source (sprintf "file has %d bytes, too short for the 8-byte header length" bytes.Length)
        let headerLength = BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan(bytes, 0, 8))
        if headerLength > uint64 (bytes.Length - 8) then
            fail source (sprintf "header length %d goes beyond the end of the file (%d bytes)" headerLength bytes.Length)
        let dataStart = 8 + int headerLength
        let dataLength = int64 (bytes.Length - dataStart)
        let document =
            try
                JsonDocument.Parse(ReadOnlyMemory(bytes, 8, int headerLength))
            with :? JsonException as e ->
                fail source (sprintf "header is not valid JSON: %s" e.Message)
        use document = document
        if document.RootElement.ValueKind <> JsonValueKind.Object then
            fail source "header is not a JSON object"
        let metadata = Dictionary<string, string>()
        let entries = ResizeArray<SafetensorsEntry * int64 * int64>()
        let names = HashSet<string>()
        for property in document.RootElement.EnumerateObject() do
            let name, value = property.Name, property.Value
            if not (names.Add name) then
                fail source (sprintf "key '%s' appears twice in the header" name)
            if name = metadataKey then
                if value.ValueKind <> JsonValueKind.Object then
                    fail source "__metadata__ is not a JSON object"
                for m in value.EnumerateObject() do
                    if m.Value.ValueKind <> JsonValueKind.String then
                        fail source (sprintf "metadata value '%s' is not a string" m.Name)
                    metadata[m.Name] <- m.Value.GetString()
            else
                if value.ValueKind <> JsonValueKind.Object then
                    fail source (sprintf "tensor '%s' is not described by a JSON object" name)
                let dtype =
                    match value.TryGetProperty "dtype" with
                    | true, d when d.ValueKind = JsonValueKind.String -> d.GetString()
                    | _ -> fail source (sprintf "tensor '%s' has no \"dtype\" string" name)
                let size =
                    match itemSize dtype with
                    | Some size -> size
                    | None -> fail source (sprintf "tensor '%s' has unknown dtype '%s' (supported: F32, F64, I64, U8, BOOL)" name dtype)
                let shape = readShape source name value
                let first, last = readOffsets source name value
                if last < first || last > dataLength then
                    fail source (sprintf "tensor '%s' has data offsets [%d, %d] outside the data section of %d bytes" name first last dataLength)
                let expected = expectedBytes shape size
                if expected <> bigint (last - first) then
                    fail source (sprintf "tensor '%s' of dtype %s and shape %A needs %O bytes but its offsets span %d" name dtype shape expected (last - first))
                let entry = { Name = name; Dtype = dtype; Shape = shape; Data = ReadOnlyMemory(bytes, dataStart + int first, int (last - first)) }
                entries.Add((entry, first, last))
        // The data section is exactly the tensors laid end to end.
        let mutable position = 0L
        for (e, first, last) in entries |> Seq.sortBy (fun (_, first, last) -> first, last) do
            if first < position then
                fail source (sprintf "tensor '%s' (bytes %d to %d) overlaps the previous tensor, which ends at %d" e.Name first last position)
            if first > position then
                fail source (sprintf "gap in the data section: bytes %d to %d belong to no tensor" position first)
            position <- last
        if position <> dataLength then
            fail source (sprintf "the data section has %d bytes but the tensors cover %d" dataLength position)
        (entries |> Seq.map (fun (e, _, _) -> e) |> Seq.toArray), (metadata :> IReadOnlyDictionary<_, _>)
