using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenCvSharp;

namespace BiVM.People;

/// <summary>
/// ISNet (DIS, MIT) as @imgly/background-removal-data 1.4.5 ships it ("/models/medium", 88 MB),
/// run the way that package's own code runs it (@imgly/background-removal 1.4.5, src/inference.ts
/// and utils.ts): the RGB image stretched to 1024x1024 (aspect not kept), each channel
/// (x − 128)/256, planar; the output [1,1,1024,1024] in [0, 1] stretched back to the image. One
/// difference: we resize with OpenCV's bilinear (pixel centres) where the package samples at x·scale.
/// Data preparation only: never referenced by BiVM.Estimators.
/// </summary>
public sealed class IsNetTeacher : IDisposable
{
    public const int Resolution = 1024;
    public const string InputName = "input", OutputName = "output";

    private readonly InferenceSession _session;

    public IsNetTeacher(string modelPath, int threads = 2)
    {
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"Teacher model {modelPath} not found; run scripts/fetch-people.sh.");
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        _session = new InferenceSession(modelPath, options);
        var input = _session.InputMetadata;
        if (!input.TryGetValue(InputName, out var meta) || meta.Dimensions.Length != 4)
            throw new InvalidDataException($"{modelPath} is not the ISNet teacher: it has no 4-D input '{InputName}' (inputs: {string.Join(", ", input.Keys)}).");
    }

    /// <summary>The teacher's alpha for an 8-bit BGR photo, CV_8UC1 of the photo's size.</summary>
    public Mat Predict(Mat bgr)
    {
        if (bgr.Type() != MatType.CV_8UC3) throw new ArgumentException($"expected an 8-bit BGR image, got {bgr.Type()}.", nameof(bgr));
        const int n = Resolution * Resolution;
        var input = new DenseTensor<float>([1, 3, Resolution, Resolution]);
        using (var resized = new Mat())
        {
            Cv2.Resize(bgr, resized, new Size(Resolution, Resolution), 0, 0, InterpolationFlags.Linear);
            var pixels = resized.AsSpan<byte>();
            var data = input.Buffer.Span;
            for (int i = 0; i < n; i++)
            {
                // BGR in, RGB planes out.
                data[i] = (pixels[3 * i + 2] - 128f) / 256f;
                data[n + i] = (pixels[3 * i + 1] - 128f) / 256f;
                data[2 * n + i] = (pixels[3 * i] - 128f) / 256f;
            }
        }
        using var results = _session.Run([NamedOnnxValue.CreateFromTensor(InputName, input)], [OutputName]);
        var output = results.First().AsTensor<float>();
        if (output.Length != n) throw new InvalidDataException($"Teacher output '{OutputName}' has {output.Length} values, expected {Resolution}x{Resolution}.");
        using var small = new Mat(Resolution, Resolution, MatType.CV_32FC1);
        var o = small.AsSpan<float>();
        int k = 0;
        foreach (float v in output) o[k++] = v;
        using var full = new Mat();
        Cv2.Resize(small, full, bgr.Size(), 0, 0, InterpolationFlags.Linear);
        var alpha = new Mat();
        full.ConvertTo(alpha, MatType.CV_8UC1, 255); // saturating: values outside [0, 1] clamp
        return alpha;
    }

    public void Dispose() => _session.Dispose();
}
