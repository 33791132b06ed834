namespace BiVM.Estimators; internal static class Placeholder {}
