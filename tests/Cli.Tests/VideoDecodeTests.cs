using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>OpenCvSharp's native runtime loads and round-trips a video this test writes itself.</summary>
public class VideoDecodeTests
{
    [Fact]
    public void Writes_and_decodes_a_generated_lossless_video_frame_by_frame()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-video-").FullName;
        try
        {
            string path = Path.Combine(dir, "moving-square.mkv");
            const int frames = 12, width = 64, height = 48;
            using (var writer = new VideoWriter(path, VideoWriter.FourCC('F', 'F', 'V', '1'), 10, new Size(width, height)))
            {
                Assert.True(writer.IsOpened(), "VideoWriter could not open an FFV1 .mkv");
                for (int t = 0; t < frames; t++) writer.Write(Frame(t, width, height));
            }

            using var capture = new VideoCapture(path);
            Assert.True(capture.IsOpened());
            int decoded = 0;
            using var frame = new Mat();
            while (capture.Read(frame) && !frame.Empty())
            {
                using var expected = Frame(decoded, width, height);
                Assert.Equal(new Size(width, height), frame.Size());
                // FFV1 is lossless: every pixel comes back exactly.
                using var diff = new Mat();
                Cv2.Absdiff(frame, expected, diff);
                Assert.Equal(0, Cv2.CountNonZero(diff.Reshape(1)));
                decoded++;
            }
            Assert.Equal(frames, decoded);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Mat Frame(int t, int width, int height)
    {
        var mat = new Mat(height, width, MatType.CV_8UC3, new Scalar(20, 40, 60));
        Cv2.Rectangle(mat, new Rect(4 * t % (width - 16), 10, 16, 16), new Scalar(250, 200, 10), -1);
        return mat;
    }
}
