namespace BiVM.Export; internal static class Placeholder {}
