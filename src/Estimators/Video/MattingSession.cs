using BiVM.Contracts;
using Microsoft.ML.OnnxRuntime;

namespace BiVM.Estimators.Video;

/// <summary>
/// An ONNX Runtime session over a model of the matting contract, with the ai.bivm custom ops
/// registered. Loading checks the graph's inputs and outputs, so a file that is not a matting
/// model fails here with its name, not later inside ONNX Runtime.
/// Thread-safe: ONNX Runtime allows concurrent Run calls on one session.
/// </summary>
public sealed class MattingSession : IDisposable
{
    private static int s_live;
    private readonly SessionOptions _sessionOptions;
    private int _disposed;

    /// <summary>
    /// Sessions created and not yet disposed, in this process. A service that mattes for days must see this stay
    /// flat; the ML.NET transform's leak test reads it.
    /// </summary>
    public static int LiveCount => Volatile.Read(ref s_live);

    /// <summary>The ONNX Runtime session (ai.bivm ops registered).</summary>
    public InferenceSession Session { get; }

    /// <summary>The model file, or <see cref="DefaultModel.Name"/>.</summary>
    public string ModelName { get; }

    /// <summary>Model family and producer from the file's metadata, when it has them.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>A session over the model the options name (the file, or the default model).</summary>
    public MattingSession(VideoMatterOptions options)
        : this(LoadModel(options), options.ModelPath ?? DefaultModel.Name, options.IntraOpThreads, options.VerifyChecksum, spinWhileIdle: options.SpinWhileIdle)
    {
    }

    /// <summary>A session over model bytes.</summary>
    /// <param name="model">The ONNX file's bytes.</param>
    /// <param name="modelName">How errors name the model (its path).</param>
    /// <param name="intraOpThreads">ONNX Runtime intra-op threads; 0 for its default.</param>
    /// <param name="verifyChecksum">Refuse a file whose checksum does not match its content (<see cref="VideoMatterOptions.VerifyChecksum"/>).</param>
    /// <param name="spinWhileIdle">Whether ONNX Runtime's threads spin between parallel sections (<see cref="VideoMatterOptions.SpinWhileIdle"/>).</param>
    /// <param name="profilePrefix">When set, ONNX Runtime profiles every node of every run into a JSON file whose
    /// path starts with it (<c>bivm bench --models --profile</c>); <see cref="EndProfiling"/> closes it.</param>
    /// <exception cref="UserInputException">The bytes are not an ONNX model, fail their checksum, or are not a matting model.</exception>
    public MattingSession(byte[] model, string modelName, int intraOpThreads, bool verifyChecksum = true, string? profilePrefix = null, bool spinWhileIdle = true)
    {
        ModelName = modelName;
        Checksum = ModelChecksum.Check(model);
        if (verifyChecksum) RequireIntact(Checksum, modelName);
        _sessionOptions = CreateSessionOptions(intraOpThreads, spinWhileIdle);
        if (profilePrefix is not null)
        {
            // In this order: setting EnableProfiling hands ONNX Runtime the prefix set at that moment.
            _sessionOptions.ProfileOutputPathPrefix = profilePrefix;
            _sessionOptions.EnableProfiling = true;
        }
        try
        {
            Session = new InferenceSession(model, _sessionOptions);
            Interlocked.Increment(ref s_live);
        }
        catch (OnnxRuntimeException e)
        {
            _sessionOptions.Dispose();
            throw new UserInputException($"{ModelName}: not a loadable ONNX model: {e.Message.ReplaceLineEndings(" ").Trim()}", e);
        }
        try
        {
            CheckContract();
            Metadata = Session.ModelMetadata.CustomMetadataMap;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Ends the profile begun by a <c>profilePrefix</c> session and returns its JSON file's path.</summary>
    public string EndProfiling() => Session.EndProfiling();

    /// <summary>What the file's integrity checksum said when it was loaded: <see cref="ChecksumStatus.Absent"/> for files from other tools.</summary>
    public ChecksumStatus Checksum { get; }

    /// <summary>
    /// Checked before ONNX Runtime sees the bytes: a damaged or edited file is refused with one line instead of
    /// running with changed weights, and bytes that are not a protobuf message never reach the native parser.
    /// </summary>
    internal static void RequireIntact(ChecksumStatus status, string modelName)
    {
        switch (status)
        {
            case ChecksumStatus.Malformed:
                throw new UserInputException($"{modelName}: not a loadable ONNX model: its bytes do not parse as a protobuf message (truncated, or not a model file)");
            case ChecksumStatus.Mismatch:
                throw new UserInputException($"{modelName}: modified or damaged since it was exported: its content does not match its checksum ({ModelChecksum.Key}); load it anyway with --no-verify (VideoMatterOptions.VerifyChecksum = false)");
        }
    }

    /// <summary>The bytes of the model the options name (the file, or the default model).</summary>
    public static byte[] LoadModel(VideoMatterOptions options)
    {
        options.Validate();
        return options.ModelPath is null ? DefaultModel.Load() : ReadModelFile(options.ModelPath);
    }

    /// <summary>Session options for matting models: full graph optimisation and the ai.bivm ops.</summary>
    public static SessionOptions CreateSessionOptions(int intraOpThreads, bool spinWhileIdle = true)
    {
        // ONNX Runtime's own log would print each load or run error a second time, in colour, before our one line:
        // every error reaches the caller as an exception anyway.
        var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        if (intraOpThreads > 0) so.IntraOpNumThreads = intraOpThreads;
        if (!spinWhileIdle) so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        BiVM.CustomOps.OnnxRuntime.BiVMOps.Register(so);
        return so;
    }

    private static byte[] ReadModelFile(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: model file not found");
        return File.ReadAllBytes(path);
    }

    private void CheckContract()
    {
        foreach (var name in MattingContract.Inputs)
            if (!Session.InputMetadata.ContainsKey(name))
                throw new UserInputException($"{ModelName}: not a BiVM/RVM matting model: it has no input '{name}' (inputs: {string.Join(", ", Session.InputMetadata.Keys)})");
        foreach (var name in MattingContract.Outputs)
            if (!Session.OutputMetadata.ContainsKey(name))
                throw new UserInputException($"{ModelName}: not a BiVM/RVM matting model: it has no output '{name}' (outputs: {string.Join(", ", Session.OutputMetadata.Keys)})");
    }

    /// <summary>Releases the session and its native memory; later calls do nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (Session is not null)
        {
            Session.Dispose();
            Interlocked.Decrement(ref s_live);
        }
        _sessionOptions.Dispose();
    }
}
