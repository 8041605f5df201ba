import { SessionProvider } from './session';
import { Layout } from './components/Layout';
import { SignIn } from './pages/SignIn';
import { useLocation } from './lib/router';
import { Dashboard } from './pages/Dashboard';
import { Channels } from './pages/Channels';
import { Relationships } from './pages/Relationships';
import { Transactions } from './pages/Transactions';
import { TransactionPage } from './pages/TransactionPage';
import { Alerts } from './pages/Alerts';
import { SettingsPage } from './pages/Settings';

function Screen() {
  const { path } = useLocation();
  const tx = /^\/transactions\/([^/]+)$/.exec(path);
  if (tx) return <TransactionPage id={decodeURIComponent(tx[1])} />;
  switch (path) {
    case '/channels':
      return <Channels />;
    case '/relationships':
      return <Relationships />;
    case '/transactions':
      return <Transactions />;
    case '/alerts':
      return <Alerts />;
    case '/settings':
      return <SettingsPage />;
    case '/':
      return <Dashboard />;
    default:
      return (
        <>
          <h1>Not found</h1>
          <p>No screen at {path}.</p>
        </>
      );
  }
}

export function App() {
  return (
    <SessionProvider signedOut={<SignIn />}>
      <Layout>
        <Screen />
      </Layout>
    </SessionProvider>
  );
}
