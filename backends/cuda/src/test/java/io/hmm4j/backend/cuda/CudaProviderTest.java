package io.hmm4j.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.BackendProvider;
import java.util.List;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** What runs everywhere: discovery, the availability answer, settings. (Built-in argument checks: the runtime's BuiltinSignatureTest.) */
class CudaProviderTest {

    @Test
    void serviceLoaderFindsTheProvider() {
        List<BackendProvider> cuda = ServiceLoader.load(BackendProvider.class).stream()
                .map(ServiceLoader.Provider::get).filter(p -> p.name().equals("cuda")).toList();
        assertThat(cuda).hasSize(1);
        assertThat(cuda.getFirst()).isInstanceOf(CudaBackendProvider.class);
        assertThat(cuda.getFirst().priority()).isEqualTo(300);
    }

    @Test
    void availabilityIsAValueWithACause() {
        CudaBackendProvider provider = new CudaBackendProvider();
        boolean available = provider.isAvailable();
        assertThat(provider.isAvailable()).as("cached").isEqualTo(available);
        if (available) {
            assertThat(provider.unavailabilityCause()).isNull();
            assertThat(provider.deviceCount()).isPositive();
        } else {
            assertThat(provider.unavailabilityCause()).isNotBlank();
            assertThat(provider.deviceCount()).isZero();
        }
    }

    @Test
    void withoutALibcudaTheCauseSaysSo() {
        CudaBackendProvider provider = new CudaBackendProvider();
        Assumptions.assumeFalse(provider.isAvailable(), "a CUDA driver is present here");
        Assumptions.assumeTrue(!new java.io.File("/usr/lib/x86_64-linux-gnu/libcuda.so.1").exists()
                && !new java.io.File("/usr/lib64/libcuda.so.1").exists(), "libcuda.so.1 exists here");
        assertThat(provider.unavailabilityCause()).startsWith("no CUDA driver (libcuda.so.1 not found)");
    }

    @Test
    void openingAnUnavailableBackendNamesTheCause() {
        CudaBackendProvider provider = new CudaBackendProvider();
        Assumptions.assumeFalse(provider.isAvailable(), "a CUDA device is present here");
        assertThatThrownBy(() -> provider.open(BackendConfig.empty()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(provider.unavailabilityCause());
    }

    @Test
    void devicesSettingSelectsOrdinals() {
        assertThat(CudaBackend.ordinals("all", 3)).containsExactly(0, 1, 2);
        assertThat(CudaBackend.ordinals(" 2, 0 ", 3)).containsExactly(2, 0);
        assertThatThrownBy(() -> CudaBackend.ordinals("3", 3)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no CUDA device 3");
        assertThatThrownBy(() -> CudaBackend.ordinals("0,0", 3)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CudaBackend.ordinals("gpu0", 3)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("devices");
    }
}
